package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// This file is the one place that knows HiveServer2's zooKeeperHA
// (active/passive, Hive 3+) registration, both its writer and its parser.
//
//	/<namespace, default hs2ActivePassiveHA>-unsecure|-sasl/instances/instance-<10 digits>   data: ServiceRecord JSON
//	/<namespace>-unsecure|-sasl/_LEADER/<curator latch nodes>
//
// The data is a Hadoop registry ServiceRecord (hadoop-registry,
// org.apache.hadoop.registry.client.types.ServiceRecord and Endpoint),
// serialized by Jackson with no header:
//
//	{"type":"JSONServiceRecord",
//	 "internal":[{"api":"activeEndpoint","addressType":"host/port","protocolType":"hadoop/IPC",
//	              "addresses":[{"host":"hs2-1.example","port":"10000"}]}],
//	 "external":[],
//	 "hive.server2.transport.mode":"binary","hive.server2.thrift.port":"10000", ...}
//
// Facts this parser rests on, from apache/hive:
//   - HS2ActivePassiveHARegistry.updateEndpoint adds an *internal* endpoint
//     built by RegistryTypeUtils.ipcEndpoint(name, host:port of
//     hive.server2.instance.uri): api "activeEndpoint" on the leader,
//     "passiveEndpoint" on the others; no external endpoint is published.
//   - HiveServer2Instance: isLeader = the internal "activeEndpoint" exists;
//     both active and passive endpoints is an invalid record.
//   - ServiceInstanceBase: host and port come from addresses[0]["host"] and
//     ["port"] of that internal endpoint (Integer.parseInt of the port).
//   - The published configuration (getConfsToPublish) is stored as the
//     record's "other" attributes, i.e. top-level string fields
//     (ServiceRecord's @JsonAnySetter/@JsonAnyGetter).
//   - The JDBC driver in zooKeeperHA mode (ZooKeeperHiveClientHelper.
//     configureConnParamsHA) connects to the leader's getHost()/getRpcPort()
//     and then applies the attributes with applyConfs, exactly as in
//     zooKeeper mode; so the endpoint's address is only the fallback for
//     hive.server2.thrift.bind.host and the published ports.

const (
	serviceRecordType    = "JSONServiceRecord"
	hiveActiveEndpoint   = "activeEndpoint"
	hivePassiveEndpoint  = "passiveEndpoint"
	HiveHAInstancesDir   = "instances"
	HiveHAInstancePrefix = "instance-"
)

// serviceRecordFields are ServiceRecord's declared fields; every other
// top-level field is an attribute.
var serviceRecordFields = map[string]bool{"type": true, "description": true, "external": true, "internal": true}

type srEndpoint struct {
	API          string                  `json:"api"`
	AddressType  string                  `json:"addressType"`
	ProtocolType string                  `json:"protocolType"`
	Addresses    []map[string]jsonScalar `json:"addresses"`
}

// jsonScalar is a JSON string, number or boolean as a string (Jackson
// coerces scalars into String fields); null and composite values are
// marked invalid.
type jsonScalar struct {
	s  string
	ok bool
}

func (j *jsonScalar) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0:
	case b[0] == '"':
		if err := json.Unmarshal(b, &j.s); err != nil {
			return err
		}
		j.ok = true
	case b[0] == '-' || (b[0] >= '0' && b[0] <= '9') || string(b) == "true" || string(b) == "false":
		j.s, j.ok = string(b), true
	}
	return nil
}

// ParseServiceRecord parses the data of a zooKeeperHA registration (a
// Hadoop ServiceRecord) into a HiveInstance with Active set. Node and
// Sequence are left for the caller, who knows the node name. Errors wrap
// ErrBadRecord.
func ParseServiceRecord(data []byte) (HiveInstance, error) {
	bad := func(format string, args ...any) (HiveInstance, error) {
		return HiveInstance{}, fmt.Errorf("%w: service record: %s", ErrBadRecord, fmt.Sprintf(format, args...))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return bad("not a JSON object")
	}
	var typ string
	if err := json.Unmarshal(top["type"], &typ); err != nil || typ != serviceRecordType {
		return bad("type is not %q", serviceRecordType)
	}
	var internal []*srEndpoint
	if raw, ok := top["internal"]; ok {
		if err := json.Unmarshal(raw, &internal); err != nil {
			return bad("internal endpoints: %v", err)
		}
	}
	var active, passive *srEndpoint
	for _, ep := range internal {
		if ep == nil {
			return bad("null internal endpoint")
		}
		switch {
		case ep.API == hiveActiveEndpoint && active == nil:
			active = ep
		case ep.API == hivePassiveEndpoint && passive == nil:
			passive = ep
		}
	}
	ep := active
	switch {
	case active != nil && passive != nil:
		return bad("both %s and %s endpoints", hiveActiveEndpoint, hivePassiveEndpoint)
	case active == nil && passive == nil:
		return bad("no %s or %s internal endpoint", hiveActiveEndpoint, hivePassiveEndpoint)
	case active == nil:
		ep = passive
	}
	if len(ep.Addresses) == 0 || ep.Addresses[0] == nil {
		return bad("%s has no address", ep.API)
	}
	h, p := ep.Addresses[0]["host"], ep.Addresses[0]["port"]
	if !h.ok || !p.ok {
		return bad("%s address lacks host or port", ep.API)
	}
	host := Unbracket(h.s)
	if err := checkHiveHost(host); err != nil {
		return bad("%s: %v", ep.API, err)
	}
	port, err := parsePort(p.s)
	if err != nil {
		return bad("%s: %v", ep.API, err)
	}
	kv := make(map[string]string)
	for k, raw := range top {
		if serviceRecordFields[k] {
			continue
		}
		var v jsonScalar
		if err := json.Unmarshal(raw, &v); err == nil && v.ok {
			kv[k] = v.s
		}
	}
	inst := HiveInstance{Active: active != nil, Sequence: -1}
	if err := applyHiveSettings(&inst, kv, host, port); err != nil {
		return bad("%v", err)
	}
	return inst, nil
}

// HiveServiceRecordData returns the data of a zooKeeperHA registration for
// inst: a ServiceRecord whose internal endpoint ("activeEndpoint" when
// inst.Active, else "passiveEndpoint") is Host:Port, with the published
// configuration as attributes, as HS2ActivePassiveHARegistry writes it.
// It is what ParseServiceRecord reads back. Errors wrap ErrBadRecord.
func HiveServiceRecordData(inst HiveInstance) ([]byte, error) {
	kv, err := hivePublished(inst, false)
	if err != nil {
		return nil, err
	}
	api := hivePassiveEndpoint
	if inst.Active {
		api = hiveActiveEndpoint
	}
	obj := map[string]any{
		"type":     serviceRecordType,
		"external": []srEndpoint{},
		"internal": []map[string]any{{
			"api": api, "addressType": "host/port", "protocolType": "hadoop/IPC",
			"addresses": []map[string]string{{"host": Unbracket(inst.Host), "port": strconv.Itoa(inst.Port)}},
		}},
	}
	for _, p := range kv {
		if serviceRecordFields[p[0]] {
			return nil, fmt.Errorf("%w: service record: attribute %q is a ServiceRecord field", ErrBadRecord, p[0])
		}
		obj[p[0]] = p[1]
	}
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, errors.Join(ErrBadRecord, err)
	}
	return out, nil
}
