package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// This file is the one place that knows the PR #276 (LIVY-723, closed)
// multi-active cluster layout, both its writer and its parser:
//
//	<livy.server.ha.zk-services, default /livy/zk/services>/<host>:<port>
//	    ephemeral; data: {"host":"<host>","port":8998,"UUID":"<random UUID>"}
//
// Facts (apache/incubator-livy refs/pull/276/head 62b09aad):
//   - Keys: livy.server.ha.zk-services, default "/livy/zk/services"
//     (LivyConf.scala:245), used as a raw absolute path, not under any key
//     prefix (ZKClusterManager.scala:36,42-45,53; ZooKeeperManager.scala:
//     98-112,130-134). conf/livy.conf.template:155-156 shows
//     "livy/zk/services" without the leading '/', which Curator refuses.
//     The cluster manager runs when livy.server.ha.mode is "multi-active"
//     (LivyConf.scala:199-202; LivyServer.scala:153-161); ZooKeeper is
//     livy.server.zookeeper.url, else livy.server.recovery.state-store.url
//     (ZooKeeperManager.scala:45-50).
//   - register() writes ServiceNode(serverIP, port, UUID.randomUUID
//     .toString) at serviceDir + "/" + serverIP + ":" + port, EPHEMERAL, after
//     deleting any node already there (ZKClusterManager.scala:51-54;
//     ZooKeeperManager.scala:130-134,141-145), once Jetty is up
//     (LivyServer.scala:346-349). serverIP is livy.rsc.launcher.address
//     (required; ZKClusterManager.scala:32-33, RSCConf.java:38,53), used as
//     is: an IPv6 literal is not bracketed in the node name. port is
//     livy.server.port (ZKClusterManager.scala:35).
//   - ServiceNode is case class ServiceNode(host: String, port: Int,
//     UUID: String) (cluster/ClusterManager.scala:21) serialized by Jackson
//     with DefaultScalaModule (recovery/StateStore.scala:29-38): property
//     names are the Scala field names (jackson-module-scala 2.9.9,
//     ScalaAnnotationIntrospectorModule.scala:75-82), so the key is "UUID",
//     in constructor order; port is a JSON number.
//   - Readers use only the data: ZKClusterManager lists the children and
//     deserializes each child's data, and its watchers deserialize the data
//     of added and removed children (ZKClusterManager.scala:42-49;
//     ZooKeeperManager.scala:147-164); the name is never parsed. Jackson
//     fails on unknown properties and matches names case-sensitively by
//     default (jackson-databind 2.9.9 DeserializationFeature.java:116,
//     MapperFeature.java:370).
//
// Here, too, the data wins: ParsePR276Service returns what the data says and
// only cross-checks the name, which a Livy server always derives from the
// same host and port.

// PR #276 livy.conf keys and defaults.
const (
	PR276KeyServicesDir     = "livy.server.ha.zk-services"
	PR276DefaultServicesDir = "/livy/zk/services"
	PR276KeyHost            = "livy.rsc.launcher.address"
	PR276KeyMode            = "livy.server.ha.mode"
	PR276ModeMultiActive    = "multi-active"
	PR276KeyZooKeeperURL    = "livy.server.zookeeper.url"
	PR276KeyZooKeeperURLOld = "livy.server.recovery.state-store.url"

	pr276MaxData = 4096
)

// PR276Service is the data of a PR #276 service node, field for field as
// Livy's ServiceNode serializes.
type PR276Service struct {
	Host string `json:"host"`
	Port int    `json:"port"`
	UUID string `json:"UUID"`
}

// PR276Dir returns the services directory that c configures. A path
// Curator would refuse is an error wrapping ErrBadLivyConf.
func PR276Dir(c LivyConf) (string, error) {
	raw := c.Get(PR276KeyServicesDir, PR276DefaultServicesDir)
	if p, err := CleanPath(raw); err != nil || p != raw || p == "/" {
		return "", confErr("%s = %q is not an absolute ZooKeeper path", PR276KeyServicesDir, truncate(raw, 64))
	}
	return raw, nil
}

// Validate reports whether s can be written and read back: a host name or
// IP literal that a URL can carry, a port 1..65535 and a UUID in Java's UUID.toString form
// (8-4-4-4-12 hex digits). Errors wrap ErrBadRecord.
func (s PR276Service) Validate() error {
	if err := checkURLHost(Unbracket(s.Host)); err != nil {
		return fmt.Errorf("%w: PR #276 service: %v", ErrBadRecord, err)
	}
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("%w: PR #276 service: port %d out of range", ErrBadRecord, s.Port)
	}
	if !isJavaUUID(s.UUID) {
		return fmt.Errorf("%w: PR #276 service: UUID %q is not 8-4-4-4-12 hex digits", ErrBadRecord, truncate(s.UUID, 40))
	}
	return nil
}

func isJavaUUID(u string) bool {
	if len(u) != 36 {
		return false
	}
	for i := 0; i < len(u); i++ {
		c := u[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if _, ok := hexDigit(rune(c)); !ok {
				return false
			}
		}
	}
	return true
}

// BaseURL returns the REST base URL of the service for scheme ("http", or
// "https" when the cluster's livy.keystore is set; the node does not say).
func (s PR276Service) BaseURL(scheme string) string {
	return scheme + "://" + net.JoinHostPort(Unbracket(s.Host), strconv.Itoa(s.Port))
}

// PR276NodeName returns the node name Livy writes for s: "<host>:<port>",
// with an IPv6 host not bracketed, as Livy concatenates it.
func PR276NodeName(s PR276Service) (string, error) {
	if err := s.Validate(); err != nil {
		return "", err
	}
	return Unbracket(s.Host) + ":" + strconv.Itoa(s.Port), nil
}

// ParsePR276NodeName parses a service node name, "host:port", "[v6]:port"
// or Livy's bare "v6:port". The host is returned unbracketed. Errors wrap
// ErrBadRecord.
func ParsePR276NodeName(name string) (string, int, error) {
	h, p, err := ParseHiveAddr(name)
	if err != nil {
		return "", 0, fmt.Errorf("%w: PR #276 node %q: %v", ErrBadRecord, truncate(name, 64), err)
	}
	return h, p, nil
}

// PR276ServiceData returns the data Livy writes for s:
// {"host":…,"port":…,"UUID":…}. Errors wrap ErrBadRecord.
func PR276ServiceData(s PR276Service) ([]byte, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	s.Host = Unbracket(s.Host)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, errors.Join(ErrBadRecord, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ParsePR276Service parses a service node: its data, which wins, checked
// against its name when name is not "" (the host, unbracketed, and port
// must be the same). The data must be a JSON object with exactly the keys
// "host" (a string), "port" (an integer, or a string of digits, as Jackson
// coerces) and "UUID" (a string), matched case-sensitively; unknown keys are
// an error, as they are for Livy's Jackson. Errors wrap ErrBadRecord.
func ParsePR276Service(name string, data []byte) (PR276Service, error) {
	bad := func(format string, args ...any) (PR276Service, error) {
		return PR276Service{}, fmt.Errorf("%w: PR #276 service %q: %s", ErrBadRecord, truncate(name, 64), fmt.Sprintf(format, args...))
	}
	if len(data) > pr276MaxData {
		return bad("%d bytes of data", len(data))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil || top == nil {
		return bad("data %q is not a JSON object", truncate(string(data), 64))
	}
	for k := range top {
		if k != "host" && k != "port" && k != "UUID" {
			return bad("unknown field %q", truncate(k, 32))
		}
	}
	var s PR276Service
	for _, f := range []struct {
		key string
		dst *string
	}{{"host", &s.Host}, {"UUID", &s.UUID}} {
		raw, ok := top[f.key]
		if !ok {
			return bad("no %q", f.key)
		}
		if t := bytes.TrimSpace(raw); len(t) == 0 || t[0] != '"' || json.Unmarshal(t, f.dst) != nil {
			return bad("%q is not a string", f.key)
		}
	}
	raw, ok := top["port"]
	if !ok {
		return bad("no \"port\"")
	}
	ps := string(bytes.TrimSpace(raw))
	if strings.HasPrefix(ps, `"`) {
		if json.Unmarshal(raw, &ps) != nil {
			return bad("\"port\" is not a number")
		}
	}
	port, err := parsePort(ps)
	if err != nil {
		return bad("\"port\": %v", err)
	}
	s.Port = port
	s.Host = Unbracket(s.Host)
	if err := s.Validate(); err != nil {
		return PR276Service{}, err
	}
	if name != "" {
		h, p, err := ParsePR276NodeName(name)
		if err != nil {
			return PR276Service{}, err
		}
		if h != s.Host || p != s.Port {
			return bad("data says %s", truncate(net.JoinHostPort(s.Host, strconv.Itoa(s.Port)), 64))
		}
	}
	return s, nil
}
