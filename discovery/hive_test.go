package discovery

import (
	"errors"
	"os"
	"testing"
)

func TestHiveRecordDefaults(t *testing.T) {
	rec := ServerRecord{ID: 1, URL: "http://livy-1:8998", Thrift: "livy-1:10090", ThriftTransport: "http", Version: "0.9"}
	inst, err := HiveRecord{}.instance(rec)
	if err != nil {
		t.Fatal(err)
	}
	if inst.Host != "livy-1" || inst.Port != 10090 || inst.TransportMode != "http" || inst.HTTPPath != "cliservice" ||
		inst.Auth != "NONE" || inst.Version != "0.9" {
		t.Fatalf("defaults = %+v", inst)
	}
	inst, err = HiveRecord{Port: 10091, TransportMode: "binary", Auth: "KERBEROS", Principal: "p"}.instance(rec)
	if err != nil || inst.Host != "livy-1" || inst.Port != 10091 || inst.HTTPPath != "" || inst.Auth != "KERBEROS" {
		t.Fatalf("overrides = %+v, %v", inst, err)
	}
	if _, err := (HiveRecord{}).instance(ServerRecord{ID: 1, URL: "http://h:1"}); !errors.Is(err, ErrBadOption) {
		t.Fatalf("no thrift endpoint: %v", err)
	}
	if _, err := (HiveRecord{TransportMode: "all"}).instance(rec); !errors.Is(err, ErrBadOption) {
		t.Fatalf("all mode: %v", err)
	}
}

// A record as HS2ActivePassiveHARegistry writes it (Hadoop ServiceRecord,
// Jackson): internal endpoint built from hive.server2.instance.uri,
// configuration as top-level attributes.
var activeRecord = func() string {
	b, err := os.ReadFile("layout/testdata/hs2-active-record.json")
	if err != nil {
		panic(err)
	}
	return string(b)
}()
