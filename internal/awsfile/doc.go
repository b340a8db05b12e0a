// Package awsfile reads and edits the AWS shared credentials and config
// files the way the AWS CLI reads them, and writes them back so that every
// byte oktafed did not mean to change stays as it was.
//
// The dialect is the one the AWS CLI's configparser accepts: "[name]"
// section headers ("[profile name]" and "[sso-session name]" in config,
// plain "[name]" in credentials), "key = value" or "key: value" settings
// whose keys compare case-insensitively, whole-line comments starting with
// "#" or ";" (a "#" after a value is part of the value), continuation lines
// indented deeper than their key, and nested settings written as an empty
// value followed by indented "key = value" lines:
//
//	[profile dev]
//	s3 =
//	  max_concurrent_requests = 20
//
// Edits go through Update, which takes a lock file beside the target,
// re-reads it, applies a function and replaces the file atomically with
// mode 0600.
package awsfile
