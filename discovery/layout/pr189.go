package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
)

// This file is the one place that knows the PR #189 (LIVY-616, open) server
// discovery layout, both its writer and its parser:
//
//	/<livy.zookeeper.namespace, default livy>/<livy.server.zookeeper.namespace, default server.uri>
//	    persistent; data: a JSON string, "http://<host>:<livy.server.port>"
//
// One node for the whole cluster: the last server to start overwrites it,
// and nothing removes it when that server stops. Facts
// (apache/incubator-livy refs/pull/189/head 5c47b096):
//   - Keys and defaults: livy.zookeeper.url (default null; discovery is on
//     when it is set at all, LivyServer.scala:392-400, and ZooKeeperManager
//     only requires it non-null, discovery/ZooKeeperManager.scala:34-35),
//     livy.zookeeper.namespace "livy", livy.server.zookeeper.namespace
//     "server.uri", plus connection.max.retries 3 and
//     connection.retry.interval.ms 500 (LivyConf.scala:196-215). Note
//     livy.zookeeper.url, not PR #276's livy.server.zookeeper.url.
//   - The path is s"/$namespace/$key" (discovery/ZooKeeperManager.scala:36,
//     101; discovery/LivyDiscoveryManager.scala:40,46-48), written with
//     setData when it exists, else create().creatingParentsIfNeeded()
//     (ZooKeeperManager.scala:61-69): Curator's default mode, PERSISTENT.
//   - The value is new URI(s"http://$host:${livy.server.port}") — always
//     http, even with livy.keystore — where host is livy.server.host, or
//     InetAddress.getLocalHost.getHostAddress (an IP literal) when that is
//     the default "0.0.0.0" (LivyServer.scala:392-409). It is written with
//     Jackson's writeValueAsBytes (discovery/JsonMapper.scala:27-34), which
//     serializes java.net.URI with ToStringSerializer: a JSON string
//     (FasterXML/jackson-databind jackson-databind-2.9.9 — Livy's
//     jackson.version, pom.xml:89 — StdJdkSerializers.java:31).
//   - getServerUri reads it back with Jackson as a URI
//     (LivyDiscoveryManager.scala:53-56).
//
// The parser takes any http(s) base URL URLHostPort accepts whose host is a
// name or an IP literal. Whether a bare IPv6 literal ("http://fe80::1:8998",
// which Java's URI allows) parses is up to net/url: GODEBUG urlstrictcolons,
// on from Go 1.26, refuses it.

// PR #189 livy.conf keys and defaults.
const (
	PR189KeyZooKeeperURL    = "livy.zookeeper.url"
	PR189KeyNamespace       = "livy.zookeeper.namespace"
	PR189KeyNode            = "livy.server.zookeeper.namespace"
	PR189DefaultNamespace   = "livy"
	PR189DefaultNode        = "server.uri"
	PR189DefaultPath        = "/" + PR189DefaultNamespace + "/" + PR189DefaultNode
	pr189MaxData            = 4096
	pr189ErrPrefix          = "PR #189 server.uri"
	pr189UnspecifiedAddress = LivyDefaultServerHost
)

// PR189Path returns the path of the PR #189 node that c configures. An
// invalid path (Curator would refuse it) is an error wrapping
// ErrBadLivyConf.
func PR189Path(c LivyConf) (string, error) {
	ns := c.Get(PR189KeyNamespace, PR189DefaultNamespace)
	node := c.Get(PR189KeyNode, PR189DefaultNode)
	raw := "/" + ns + "/" + node
	if p, err := CleanPath(raw); err != nil || p != raw {
		return "", confErr("%s = %q and %s = %q do not make a ZooKeeper path", PR189KeyNamespace, truncate(ns, 64), PR189KeyNode, truncate(node, 64))
	}
	return raw, nil
}

// PR189ServerURI returns the URL a PR #189 server configured by c writes:
// "http://<host>:<livy.server.port>", host being livy.server.host or, when
// that is "0.0.0.0" (the default), localAddr (Livy uses
// InetAddress.getLocalHost.getHostAddress). IPv6 hosts are bracketed.
// Errors wrap ErrBadLivyConf.
func PR189ServerURI(c LivyConf, localAddr string) (string, error) {
	host := c.Get(LivyKeyServerHost, LivyDefaultServerHost)
	if host == pr189UnspecifiedAddress {
		host = localAddr
	}
	host = Unbracket(host)
	if err := checkURLHost(host); err != nil {
		return "", confErr("%s: %v", LivyKeyServerHost, err)
	}
	port, err := confPort(c, LivyKeyServerPort, LivyDefaultPort)
	if err != nil {
		return "", err
	}
	u := "http://" + net.JoinHostPort(host, strconv.Itoa(port))
	if err := checkBaseURL(u); err != nil {
		return "", confErr("%s: %v", LivyKeyServerHost, err)
	}
	return u, nil
}

// PR189URIData returns the data of the PR #189 node for url: the URL as a
// JSON string, as Jackson writes it (no HTML escaping). The URL must pass
// URLHostPort. Errors wrap ErrBadRecord.
func PR189URIData(url string) ([]byte, error) {
	if err := checkBaseURL(url); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(url); err != nil {
		return nil, errors.Join(ErrBadRecord, err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ParsePR189URI parses the PR #189 node's data, a JSON string holding an
// http(s)://host:port base URL, and returns the URL. Errors wrap
// ErrBadRecord.
func ParsePR189URI(data []byte) (string, error) {
	if len(data) > pr189MaxData {
		return "", fmt.Errorf("%w: %s: %d bytes of data", ErrBadRecord, pr189ErrPrefix, len(data))
	}
	t := bytes.TrimLeft(data, " \t\r\n")
	if len(t) == 0 || t[0] != '"' {
		return "", fmt.Errorf("%w: %s: data %q is not a JSON string", ErrBadRecord, pr189ErrPrefix, truncate(string(data), 64))
	}
	var s string
	if err := json.Unmarshal(data, &s); err != nil {
		return "", fmt.Errorf("%w: %s: data %q is not a JSON string", ErrBadRecord, pr189ErrPrefix, truncate(string(data), 64))
	}
	if err := checkBaseURL(s); err != nil {
		return "", fmt.Errorf("%s: %w", pr189ErrPrefix, err)
	}
	return s, nil
}

// checkBaseURL is URLHostPort's check, with the echoed URL truncated and
// the host checked too: net/url under this module's go version
// (urlstrictcolons=0) takes "http://a:b:8998" as host "a:b".
func checkBaseURL(s string) error {
	host, _, err := URLHostPort(s)
	if err != nil {
		if len(s) <= 64 {
			return err
		}
		return fmt.Errorf("%w: url %q: want http(s)://host:port[/base]", ErrBadRecord, truncate(s, 64))
	}
	if err := checkHiveHost(host); err != nil {
		return fmt.Errorf("%w: url %q: %v", ErrBadRecord, truncate(s, 64), err)
	}
	return nil
}
