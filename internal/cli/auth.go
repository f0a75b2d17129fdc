package cli

import (
	"flag"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/livyha/livyha/livyclient"
)

// The REST authentication flags' environment variables.
const (
	EnvUser            = "LIVY_USER"              // --user
	EnvPassword        = "LIVY_PASSWORD"          // the password itself (no flag: a flag would show in ps)
	EnvPasswordFile    = "LIVY_PASSWORD_FILE"     // --password-file
	EnvBearerTokenFile = "LIVY_BEARER_TOKEN_FILE" // --bearer-token-file
	EnvTokenFile       = "LIVY_TOKEN_FILE"        // --token-file, livy-proxy's name of it
	EnvSPNEGO          = "LIVY_SPNEGO"            // --spnego (true/false)
	EnvKeytab          = "LIVY_KEYTAB"            // --keytab
	EnvPrincipal       = "LIVY_PRINCIPAL"         // --principal
)

// AuthFlags are a REST client's credentials for the Livy servers (flags
// over environment; at most one method):
//
//	--user USER               (env LIVY_USER) HTTP Basic, with the password
//	--password-file PATH      (env LIVY_PASSWORD_FILE) read from this file
//	                          (one trailing newline dropped), or from $LIVY_PASSWORD
//	--bearer-token-file PATH  (env LIVY_BEARER_TOKEN_FILE) "Authorization: Bearer"
//	                          with the file's token; --token-file (env
//	                          LIVY_TOKEN_FILE) is the same, livy-proxy's name
//	--spnego                  (env LIVY_SPNEGO) Kerberos SPNEGO with the TGT of
//	                          the credential cache ($KRB5CCNAME, else
//	                          /tmp/krb5cc_<uid>); --ccache is the same
//	--keytab PATH             (env LIVY_KEYTAB) Kerberos SPNEGO, logging in with
//	--principal P             (env LIVY_PRINCIPAL) this principal's key from the keytab
//	--krb5-conf PATH          krb5.conf (default $KRB5_CONFIG, else /etc/krb5.conf)
//	--mutual-auth             SPNEGO with livyclient.WithMutualAuth
//
// Secrets never appear in flags' values, errors or output: passwords and
// tokens come from files or the environment, and errors name only the
// file or variable.
type AuthFlags struct {
	fs                        *flag.FlagSet
	user, passwordFile, token *string
	tokenAlias                *string
	spnego, ccache            *bool
	keytab, principal, krb5   *string
	mutual                    *bool
}

// AuthUsage is the flags' lines for a usage text.
const AuthUsage = `authentication to the Livy servers (at most one method; flags over environment; secrets never printed):
  --user USER               HTTP Basic user (env ` + EnvUser + `); the password from --password-file PATH
                            (env ` + EnvPasswordFile + `) or $` + EnvPassword + `
  --bearer-token-file PATH  send "Authorization: Bearer <the file's token>" (env ` + EnvBearerTokenFile + `;
                            also --token-file PATH, env ` + EnvTokenFile + `)
  --spnego                  Kerberos SPNEGO with the credential cache's TGT ($KRB5CCNAME; env ` + EnvSPNEGO + `=true;
                            --ccache is the same)
  --keytab PATH             Kerberos SPNEGO logging in with a keytab (env ` + EnvKeytab + `), as --principal P
                            (env ` + EnvPrincipal + `)
  --krb5-conf PATH          Kerberos configuration (default $KRB5_CONFIG, else /etc/krb5.conf)
  --mutual-auth             SPNEGO: require each server to prove its identity (an AP-REP, as
                            requests-kerberos's REQUIRED); an answer without that proof is refused
`

// NewAuthFlags defines the authentication flags on fs.
func NewAuthFlags(fs *flag.FlagSet) *AuthFlags {
	return &AuthFlags{
		fs:           fs,
		user:         fs.String("user", "", "HTTP Basic `USER` (env "+EnvUser+")"),
		passwordFile: fs.String("password-file", "", "read the Basic password from `PATH` (env "+EnvPasswordFile+"; or $"+EnvPassword+")"),
		token:        fs.String("bearer-token-file", "", "send the bearer token in `PATH` (env "+EnvBearerTokenFile+")"),
		tokenAlias:   fs.String("token-file", "", "the same as --bearer-token-file `PATH` (env "+EnvTokenFile+")"),
		spnego:       fs.Bool("spnego", false, "Kerberos SPNEGO with the credential cache's TGT (env "+EnvSPNEGO+")"),
		ccache:       fs.Bool("ccache", false, "the same as --spnego"),
		keytab:       fs.String("keytab", "", "Kerberos SPNEGO with the key of --principal in keytab `PATH` (env "+EnvKeytab+")"),
		principal:    fs.String("principal", "", "Kerberos client `PRINCIPAL` for --keytab (env "+EnvPrincipal+")"),
		krb5:         fs.String("krb5-conf", "", "Kerberos configuration `PATH` (default $KRB5_CONFIG, else /etc/krb5.conf)"),
		mutual:       fs.Bool("mutual-auth", false, "SPNEGO: require each server to prove its identity"),
	}
}

// Authenticator returns the Authenticator the flags describe (nil: none)
// and a function releasing it (never nil). Bad combinations and
// unreadable files are usage errors that never show a secret; Kerberos
// failures are *livyclient.KerberosError (exit 4).
func (f *AuthFlags) Authenticator(getenv func(string) string) (livyclient.Authenticator, func(), error) {
	nop := func() {}
	user, userFrom := value(f.user, "user", EnvUser, getenv)
	pwFile, pwFileFrom := value(f.passwordFile, "password-file", EnvPasswordFile, getenv)
	tokFile, tokFrom := value(f.token, "bearer-token-file", EnvBearerTokenFile, getenv)
	if alias, aliasFrom := value(f.tokenAlias, "token-file", EnvTokenFile, getenv); alias != "" {
		switch {
		case tokFile == "" || (tokFrom[0] == '$' && aliasFrom[0] == '-'):
			tokFile, tokFrom = alias, aliasFrom // a flag over a variable
		case tokFile != alias && (tokFrom[0] == aliasFrom[0]):
			return nil, nop, Usagef("%s and %s name different token files: give one", tokFrom, aliasFrom)
		}
	}
	keytab, keytabFrom := value(f.keytab, "keytab", EnvKeytab, getenv)
	principal, principalFrom := value(f.principal, "principal", EnvPrincipal, getenv)
	krb5, _ := value(f.krb5, "krb5-conf", "", nil)
	spnego, spnegoFrom := *f.spnego, "--spnego"
	if *f.ccache && !spnego {
		spnego, spnegoFrom = true, "--ccache"
	}
	if !spnego && getenv != nil {
		if v := strings.TrimSpace(getenv(EnvSPNEGO)); v != "" {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return nil, nop, Usagef("bad $%s %q (want true or false)", EnvSPNEGO, v)
			}
			spnego, spnegoFrom = b, "$"+EnvSPNEGO
		}
	}

	var methods []string
	if user != "" {
		methods = append(methods, userFrom)
	}
	if tokFile != "" {
		methods = append(methods, tokFrom)
	}
	if keytab != "" {
		methods = append(methods, keytabFrom)
	} else if spnego {
		methods = append(methods, spnegoFrom)
	}
	if len(methods) > 1 {
		return nil, nop, Usagef("%s and %s both set credentials: give one authentication method", methods[0], methods[1])
	}
	if pwFile != "" && user == "" {
		return nil, nop, Usagef("%s needs --user USER (or $%s)", pwFileFrom, EnvUser)
	}
	if principal != "" && keytab == "" {
		return nil, nop, Usagef("%s needs --keytab PATH (or $%s)", principalFrom, EnvKeytab)
	}
	if *f.mutual && keytab == "" && !spnego {
		return nil, nop, Usagef("--mutual-auth is for SPNEGO: give --spnego or --keytab")
	}

	var kopts []livyclient.SPNEGOOption
	if krb5 != "" {
		kopts = append(kopts, livyclient.WithKrb5Conf(krb5))
	}
	if *f.mutual {
		kopts = append(kopts, livyclient.WithMutualAuth())
	}
	switch {
	case user != "":
		var pw string
		switch {
		case pwFile != "":
			s, err := readSecret(pwFile, pwFileFrom)
			if err != nil {
				return nil, nop, err
			}
			pw = s
		case getenv != nil && getenv(EnvPassword) != "":
			pw = getenv(EnvPassword)
		default:
			return nil, nop, Usagef("%s needs a password: --password-file PATH (or $%s, $%s)", userFrom, EnvPasswordFile, EnvPassword)
		}
		return livyclient.BasicAuth{User: user, Password: pw}, nop, nil
	case tokFile != "":
		tok, err := readSecret(tokFile, tokFrom)
		if err != nil {
			return nil, nop, err
		}
		return livyclient.BearerToken(tok), nop, nil
	case keytab != "":
		if principal == "" {
			return nil, nop, Usagef("%s needs --principal PRINCIPAL (or $%s)", keytabFrom, EnvPrincipal)
		}
		s, err := livyclient.NewSPNEGOWithKeytab(principal, keytab, kopts...)
		if err != nil {
			return nil, nop, err
		}
		return s, func() { _ = s.Close() }, nil
	case spnego:
		s, err := livyclient.NewSPNEGOFromCCache("", kopts...)
		if err != nil {
			return nil, nop, err
		}
		return s, func() { _ = s.Close() }, nil
	}
	return nil, nop, nil
}

// maxSecret bounds what readSecret reads: a password or a token, not a
// file given by mistake.
const maxSecret = 64 << 10

// readSecret reads a password or token file, dropping one trailing
// newline. Errors name the file and its source, never its content.
func readSecret(path, from string) (string, error) {
	fh, err := os.Open(path)
	if err != nil {
		return "", Usagef("bad %s: %s", from, err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxSecret+1))
	if err != nil {
		return "", Usagef("bad %s: reading %s: %s", from, path, err)
	}
	if len(b) > maxSecret {
		return "", Usagef("bad %s: %s is larger than %d bytes (want a password or a token)", from, path, maxSecret)
	}
	s := strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	if s == "" {
		return "", Usagef("bad %s: %s is empty", from, path)
	}
	if strings.ContainsAny(s, "\r\n") {
		return "", Usagef("bad %s: %s holds more than one line (the content is not shown)", from, path)
	}
	return s, nil
}
