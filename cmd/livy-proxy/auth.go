package main

import (
	"flag"
	"os"
	"strings"

	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/livyclient"
)

// The credential flags' environment variables.
const (
	EnvUser         = "LIVY_USER"          // --user
	EnvPasswordFile = "LIVY_PASSWORD_FILE" // --password-file
	EnvTokenFile    = "LIVY_TOKEN_FILE"    // --token-file
	EnvKeytab       = "LIVY_KEYTAB"        // --keytab
	EnvPrincipal    = "LIVY_PRINCIPAL"     // --principal
)

const authUsage = `  --user NAME          HTTP Basic user (env ` + EnvUser + `), with --password-file
  --password-file PATH file holding the Basic password (env ` + EnvPasswordFile + `; never printed)
  --token-file PATH    file holding a Bearer token (env ` + EnvTokenFile + `; never printed)
  --keytab PATH        SPNEGO: log in as --principal with this keytab (env ` + EnvKeytab + `)
  --principal P        the keytab's principal, name[/host]@REALM (env ` + EnvPrincipal + `)
  --ccache             SPNEGO with the credential cache of kinit ($KRB5CCNAME)
  --krb5-conf PATH     krb5.conf for SPNEGO (default $KRB5_CONFIG, else /etc/krb5.conf)
`

// authFlags are the proxy's own credentials.
type authFlags struct {
	user, passwordFile, tokenFile *string
	keytab, principal, krb5Conf   *string
	ccache                        *bool
}

func newAuthFlags(fs *flag.FlagSet) *authFlags {
	return &authFlags{
		user:         fs.String("user", "", "HTTP Basic user (env "+EnvUser+")"),
		passwordFile: fs.String("password-file", "", "file holding the Basic password (env "+EnvPasswordFile+")"),
		tokenFile:    fs.String("token-file", "", "file holding a Bearer token (env "+EnvTokenFile+")"),
		keytab:       fs.String("keytab", "", "SPNEGO keytab (env "+EnvKeytab+")"),
		principal:    fs.String("principal", "", "the keytab's principal (env "+EnvPrincipal+")"),
		ccache:       fs.Bool("ccache", false, "SPNEGO with kinit's credential cache"),
		krb5Conf:     fs.String("krb5-conf", "", "krb5.conf for SPNEGO"),
	}
}

// authenticator returns the proxy's own Authenticator, or nil to forward
// the callers' credentials; close releases it.
func (f *authFlags) authenticator(getenv func(string) string) (livyclient.Authenticator, func(), error) {
	nop := func() {}
	user, _ := trimmed(*f.user, EnvUser, getenv)
	pwFile, pwFrom := trimmed(*f.passwordFile, EnvPasswordFile, getenv)
	tokFile, tokFrom := trimmed(*f.tokenFile, EnvTokenFile, getenv)
	keytab, _ := trimmed(*f.keytab, EnvKeytab, getenv)
	principal, _ := trimmed(*f.principal, EnvPrincipal, getenv)
	n := 0
	for _, set := range []bool{user != "" || pwFile != "", tokFile != "", keytab != "" || *f.ccache} {
		if set {
			n++
		}
	}
	if n > 1 {
		return nil, nop, cli.Usagef("use one kind of credentials: --user/--password-file, --token-file, or --keytab/--ccache")
	}
	if keytab != "" && *f.ccache {
		return nil, nop, cli.Usagef("--keytab and --ccache exclude each other")
	}
	var kopts []livyclient.SPNEGOOption
	if *f.krb5Conf != "" {
		kopts = append(kopts, livyclient.WithKrb5Conf(*f.krb5Conf))
	}
	switch {
	case user != "" || pwFile != "":
		if user == "" || pwFile == "" {
			return nil, nop, cli.Usagef("Basic credentials need both --user and --password-file")
		}
		pw, err := secret(pwFile, from(pwFrom, "--password-file"))
		if err != nil {
			return nil, nop, err
		}
		return livyclient.BasicAuth{User: user, Password: pw}, nop, nil
	case tokFile != "":
		tok, err := secret(tokFile, from(tokFrom, "--token-file"))
		if err != nil {
			return nil, nop, err
		}
		return livyclient.BearerToken(tok), nop, nil
	case keytab != "":
		if principal == "" {
			return nil, nop, cli.Usagef("--keytab needs --principal")
		}
		s, err := livyclient.NewSPNEGOWithKeytab(principal, keytab, kopts...)
		if err != nil {
			return nil, nop, &cli.ExitError{Code: cli.ExitNotAuthorized, Err: err}
		}
		return s, func() { _ = s.Close() }, nil
	case *f.ccache:
		s, err := livyclient.NewSPNEGOFromCCache("", kopts...)
		if err != nil {
			return nil, nop, &cli.ExitError{Code: cli.ExitNotAuthorized, Err: err}
		}
		return s, func() { _ = s.Close() }, nil
	}
	if principal != "" {
		return nil, nop, cli.Usagef("--principal needs --keytab")
	}
	return nil, nop, nil
}

func from(env, flagName string) string {
	if env != "" {
		return env
	}
	return flagName
}

// secret reads a one-line secret file; errors name the file, never its
// content.
func secret(path, what string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", cli.Usagef("%s: %v", what, err)
	}
	s := strings.TrimRight(string(b), "\r\n")
	if s == "" {
		return "", cli.Usagef("%s: %s is empty", what, path)
	}
	return s, nil
}
