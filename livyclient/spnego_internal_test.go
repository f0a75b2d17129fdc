package livyclient

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/nametype"
	"github.com/jcmturner/gokrb5/v8/krberror"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/livyha/livyha/retry"
)

// gokrb5's errors, as its client builds them (KRBError text wrapped in
// krberror.Errorf, then flattened by fmt.Errorf("...: %v")), classify by
// the Kerberos error code they carry.
func TestKerberosErrorClassification(t *testing.T) {
	spn := "HTTP/livy1.example.com"
	kdc := func(code int32) error {
		e := messages.NewKRBError(types.NewPrincipalName(nametype.KRB_NT_SRV_INST, spn), "EXAMPLE.COM", code, "")
		return fmt.Errorf("could not get valid TGT for client's realm: %v",
			krberror.Errorf(e, krberror.KDCError, "AS Exchange Error: kerberos error response from KDC"))
	}
	s := &SPNEGO{principal: "alice@EXAMPLE.COM", confPath: "/etc/krb5.conf", kind: fromPassword}
	for _, tc := range []struct {
		err    error
		reason KerberosReason
		text   string
	}{
		{kdc(errorcode.KRB_AP_ERR_SKEW), KerberosClockSkew, "synchronise the clocks"},
		{kdc(errorcode.KDC_ERR_S_PRINCIPAL_UNKNOWN), KerberosUnknownServer, "no service principal HTTP/livy1.example.com@EXAMPLE.COM"},
		{kdc(errorcode.KDC_ERR_C_PRINCIPAL_UNKNOWN), KerberosUnknownClient, "alice@EXAMPLE.COM"},
		{kdc(errorcode.KRB_AP_ERR_TKT_EXPIRED), KerberosExpired, "expired"},
		{kdc(errorcode.KDC_ERR_PREAUTH_FAILED), KerberosBadCredentials, "check the password"},
		{kdc(errorcode.KDC_ERR_POLICY), KerberosOther, "KDC refused"},
		{errors.New("[Root cause: Networking_Error] Networking_Error: AS Exchange Error: failed sending AS_REQ to KDC: failed to communicate with KDC"), KerberosKDCUnreachable, "/etc/krb5.conf"},
		{errors.New("matching key not found in keytab. Looking for [alice] realm: EXAMPLE.COM kvno: 0 etype: 18"), KerberosNoKeytabEntry, "no keytab entry for alice@EXAMPLE.COM"},
		{errors.New("something else"), KerberosOther, spn},
	} {
		err := s.classify(tc.err, spn)
		var ke *KerberosError
		if !errors.As(err, &ke) || ke.Reason != tc.reason || !strings.Contains(err.Error(), tc.text) || ke.SPN != spn {
			t.Errorf("%q classified as %v: %v", tc.err, ke.Reason, err)
		}
	}
}

// However a KerberosError is wrapped, the transport's retry classification
// never sees what is inside it: even io.EOF or a refused dial (here as the
// cause) cannot make a Kerberos failure look retryable or unsent.
func TestKerberosErrorIsNeverRetryable(t *testing.T) {
	for _, cause := range []error{io.EOF, &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, syscall.ECONNRESET} {
		ke := &KerberosError{Reason: KerberosKDCUnreachable, what: "x", Err: cause}
		err := fmt.Errorf("livyclient: authenticate for h:1: %w", ke)
		if retry.Retryable(err) || retry.NeverSent(err) || !errors.Is(err, ErrKerberos) {
			t.Errorf("cause %v: Retryable %v NeverSent %v", cause, retry.Retryable(err), retry.NeverSent(err))
		}
		if !strings.Contains(err.Error(), cause.Error()) {
			t.Errorf("the cause is not in the text: %v", err)
		}
	}
	if KerberosClockSkew.String() != "clock skew" || KerberosReason(99).String() != "KerberosReason(99)" {
		t.Error("KerberosReason.String")
	}
}

// Directives gokrb5 does not support (v4_* settings, as in Debian's
// default krb5.conf) are ignored, not fatal; a missing file is a
// configuration error.
func TestKrb5ConfTolerated(t *testing.T) {
	dir := t.TempDir()
	conf := dir + "/krb5.conf"
	body := "[libdefaults]\n default_realm = EXAMPLE.COM\n[realms]\n EXAMPLE.COM = {\n  kdc = 127.0.0.1:1\n  v4_instance_convert = {\n   mit = mit.edu\n  }\n  v4_realm = EXAMPLE\n }\n"
	if err := os.WriteFile(conf, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	a, err := NewSPNEGOWithPassword("alice", "pw", WithKrb5Conf(conf))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if a.Principal() != "alice@EXAMPLE.COM" {
		t.Fatalf("principal %q", a.Principal())
	}
	t.Setenv("KRB5_CONFIG", conf+":/etc/krb5.conf")
	if _, err := NewSPNEGOWithPassword("bob", "pw"); err != nil {
		t.Fatalf("KRB5_CONFIG list: %v", err)
	}
	_, err = NewSPNEGOWithPassword("alice", "pw", WithKrb5Conf(dir+"/missing.conf"))
	var ke *KerberosError
	if !errors.As(err, &ke) || ke.Reason != KerberosConfig || !strings.Contains(err.Error(), "missing.conf") {
		t.Fatalf("missing krb5.conf: %v", err)
	}
	if _, err := NewSPNEGOWithPassword("@", "pw", WithKrb5Conf(conf)); !errors.Is(err, ErrKerberos) {
		t.Fatalf("bad principal: %v", err)
	}
}
