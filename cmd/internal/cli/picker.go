package cli

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/oktafed/oktafed/internal/config"
)

// pickerRow is one choice of the role picker, in columns.
type pickerRow struct {
	account string // alias when known, else the account id
	id      string // account id, shown beside an alias
	role    string // role name
	arn     string
}

// pickerPage is how many rows the picker shows at a time.
const pickerPage = 20

// pickRoles asks for one or more of rows on the terminal. The person
// types a filter (words each found in the alias, account id, role name or
// ARN; letters in order when no row has them all; /regex/), numbers and
// ranges of the rows shown (1,3-5), "all" (every row the filter leaves),
// or Enter: the one row a filter left, else the next page. It returns the
// indices of the picked rows in rows.
func (p *prompter) pickRoles(question string, rows []pickerRow) ([]int, error) {
	if !p.interactive() {
		return nil, errNoTTY
	}
	w := [3]int{}
	for _, r := range rows {
		w[0], w[1], w[2] = max(w[0], len(r.account)), max(w[1], len(r.id)), max(w[2], len(r.role))
	}
	all := make([]int, len(rows))
	for i := range all {
		all[i] = i
	}
	shown, filter, page := all, "", 0
	show := func() {
		if filter != "" {
			fmt.Fprintf(p.ios.ErrOut, "%s %d of %d roles match %q\n", p.color(cyan, "?"), len(shown), len(rows), filter)
		} else {
			fmt.Fprintf(p.ios.ErrOut, "%s %s (%d roles)\n", p.color(cyan, "?"), question, len(rows))
		}
		from := page * pickerPage
		to := min(from+pickerPage, len(shown))
		for n := from; n < to; n++ {
			r := rows[shown[n]]
			id := ""
			if r.id != r.account {
				id = r.id
			}
			fmt.Fprintf(p.ios.ErrOut, "  %s %-*s  %-*s  %-*s\n", p.color(bold, fmt.Sprintf("%3d)", n+1)), w[0], r.account, w[1], id, w[2], r.role)
		}
		if len(shown) > pickerPage {
			fmt.Fprintf(p.ios.ErrOut, "  %s\n", p.color(gray, fmt.Sprintf("%d-%d of %d; Enter shows more", from+1, to, len(shown))))
		}
	}
	show()
	for {
		hint := "Filter, numbers (1,3-5) or all"
		if len(shown) == 1 {
			hint = "Enter picks it; or filter again"
		}
		ans, err := p.Input(hint, "")
		if err != nil {
			return nil, err
		}
		ans = strings.TrimSpace(ans)
		switch {
		case ans == "" && len(shown) == 1:
			return shown, nil
		case ans == "":
			if len(shown) > pickerPage {
				page = (page + 1) % ((len(shown) + pickerPage - 1) / pickerPage)
			}
			show()
			continue
		case ans == "all":
			return shown, nil
		}
		if picked, ok := pickNumbers(ans, len(shown)); ok {
			out := make([]int, len(picked))
			for i, n := range picked {
				out[i] = shown[n]
			}
			return out, nil
		}
		match, err := rowFilter(ans)
		if err != nil {
			fmt.Fprintf(p.ios.ErrOut, "  %s\n", p.color(red, err.Error()))
			continue
		}
		var next []int
		for _, i := range all {
			if match(rows[i], false) {
				next = append(next, i)
			}
		}
		if len(next) == 0 {
			// No substring: letters in order ("pa" finds prod-admin).
			for _, i := range all {
				if match(rows[i], true) {
					next = append(next, i)
				}
			}
		}
		if len(next) == 0 {
			fmt.Fprintf(p.ios.ErrOut, "  %s\n", p.color(red, fmt.Sprintf("No role matches %q; type another filter, or all.", ans)))
			continue
		}
		shown, filter, page = next, ans, 0
		show()
	}
}

// pickNumbers reads "1,3-5 7" as 1-based positions among n rows, returned
// 0-based in the order given; ok is false unless every part is a number or
// range within 1..n.
func pickNumbers(s string, n int) ([]int, bool) {
	var out []int
	seen := map[int]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		lo, hi, isRange := strings.Cut(f, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return nil, false
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil {
				return nil, false
			}
		}
		if a < 1 || b > n || a > b {
			return nil, false
		}
		for i := a; i <= b; i++ {
			if !seen[i] {
				seen[i] = true
				out = append(out, i-1)
			}
		}
	}
	return out, len(out) > 0
}

// rowFilter is a filter typed in the picker: /regex/ over the columns and
// the ARN, else a case-insensitive substring (or, when fuzzy, its letters
// in order).
func rowFilter(s string) (func(r pickerRow, fuzzy bool) bool, error) {
	text := func(r pickerRow) string { return strings.ToLower(r.account + " " + r.id + " " + r.role + " " + r.arn) }
	if len(s) >= 2 && strings.HasPrefix(s, "/") && strings.HasSuffix(s, "/") {
		re, err := regexp.Compile(s[1 : len(s)-1])
		if err != nil {
			return nil, fmt.Errorf("bad regular expression: %v", err)
		}
		return func(r pickerRow, fuzzy bool) bool {
			return !fuzzy && re.MatchString(r.account+" "+r.id+" "+r.role+" "+r.arn)
		}, nil
	}
	want := strings.ToLower(s)
	words := strings.Fields(want)
	want = strings.Join(words, "")
	return func(r pickerRow, fuzzy bool) bool {
		t := text(r)
		if !fuzzy {
			// Every word somewhere: "prod admin" finds prod's Admin role.
			for _, w := range words {
				if !strings.Contains(t, w) {
					return false
				}
			}
			return true
		}
		i := 0
		for _, c := range t {
			if i < len(want) && byte(c) == want[i] {
				i++
			}
		}
		return i == len(want)
	}, nil
}

// roleRows are the picker's rows for role ARNs, with the profile's
// remembered account aliases.
func roleRows(p *config.Profile, arns []string) []pickerRow {
	rows := make([]pickerRow, len(arns))
	for i, arn := range arns {
		id := config.ARNAccount(arn)
		acct := id
		if a := p.AccountAliases[id]; a != "" {
			acct = a
		}
		rows[i] = pickerRow{account: acct, id: id, role: config.ARNRoleName(arn), arn: arn}
	}
	return rows
}
