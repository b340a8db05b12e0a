package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	qrcode "github.com/skip2/go-qrcode"

	"github.com/oktafed/oktafed/internal/keystore"
)

// secretTokens is the keystore kind of a profile's OIDC refresh token and
// device secret.
const secretTokens = string(keystore.KindToken)

// storeTokens keeps OIDC tokens in a secretStore, as one JSON value.
type storeTokens struct{ s secretStore }

type tokensJSON struct {
	RefreshToken string `json:"refresh_token,omitempty"`
	DeviceSecret string `json:"device_secret,omitempty"`
}

func (c storeTokens) LoadTokens(ctx context.Context, profile string) (string, string, error) {
	v, err := c.s.Get(ctx, profile, secretTokens)
	if err != nil || v == "" {
		return "", "", err
	}
	var j tokensJSON
	if json.Unmarshal([]byte(v), &j) != nil {
		// A damaged entry is as good as none: the device flow replaces it.
		return "", "", nil
	}
	return j.RefreshToken, j.DeviceSecret, nil
}

func (c storeTokens) SaveTokens(ctx context.Context, profile, refresh, secret string) error {
	b, _ := json.Marshal(tokensJSON{RefreshToken: refresh, DeviceSecret: secret})
	return c.s.Set(ctx, profile, secretTokens, string(b))
}

func (c storeTokens) DeleteTokens(ctx context.Context, profile string) error {
	return c.s.Remove(ctx, profile, secretTokens)
}

// showDeviceCode prints where to confirm a sign-in, with a QR code of the
// complete link for a phone, and opens the browser when asked.
func showDeviceCode(ios *IOStreams, uri, complete, code string, open bool) {
	link := complete
	if link == "" {
		link = uri
	}
	fmt.Fprintf(ios.ErrOut, "To sign in, open %s and confirm the code %s\n", colorize(ios, bold, link), colorize(ios, bold, code))
	if ios.ErrTTY && ios.getenv("OKTAFED_NO_QR") == "" {
		if qr, err := renderQR(link); err == nil {
			fmt.Fprint(ios.ErrOut, qr)
		}
	}
	if open {
		if err := openBrowser(link); err != nil {
			fmt.Fprintf(ios.ErrOut, "Could not open a browser (%v); open the link yourself.\n", err)
		}
	}
	fmt.Fprintln(ios.ErrOut, "Waiting for the code to be confirmed…")
}

// renderQR draws a QR code with half-block characters: each text row
// holds two module rows, so the code stays square in a terminal. Light
// modules (and the quiet zone) are drawn in the foreground colour and dark
// ones left as background, which reads right on the usual dark terminal.
func renderQR(content string) (string, error) {
	q, err := qrcode.New(content, qrcode.Low)
	if err != nil {
		return "", err
	}
	bm := q.Bitmap() // true = dark, border included
	var b strings.Builder
	for y := 0; y < len(bm); y += 2 {
		for x := range bm[y] {
			top := bm[y][x]
			bottom := y+1 < len(bm) && bm[y+1][x]
			switch {
			case !top && !bottom:
				b.WriteRune('█')
			case !top && bottom:
				b.WriteRune('▀')
			case top && !bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}
