package main

// --profile and the PR #212 flags (see the command documentation).

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/livytest"
)

type profileFlags struct {
	fs            *flag.FlagSet
	profile       *string
	livyConf      *string
	haIDs, haHost *string
	haID, prefix  *string
	restart       *time.Duration
	selfRedirect  *time.Duration
	gc            *bool

	spec livytest.Profile // after check
}

func addProfileFlags(fs *flag.FlagSet) *profileFlags {
	return &profileFlags{
		fs:           fs,
		profile:      fs.String("profile", string(livytest.ProfileLivyHA), "server `profile`: livyha, pr212, stock, livy-0.7, livy-0.8, livy-0.9, stock+livy-0.X or livyha+livy-0.X"),
		livyConf:     fs.String("livy-conf", "", "pr212: the cluster's livy.conf `PATH`; read when it exists, else written from --ha-server-ids, --ha-server-hostnames, --listen's port, --zk, --root and --ha-key-prefix"),
		haIDs:        fs.String("ha-server-ids", "", "pr212: livy.server.ha.server-ids `a,b,...` (to write --livy-conf)"),
		haHost:       fs.String("ha-server-hostnames", "", "pr212: livy.server.ha.server-hostnames `h1,h2,...` (to write --livy-conf)"),
		haID:         fs.String("ha-id", "", "pr212: this server's `id` (default: the id of --listen's host)"),
		prefix:       fs.String("ha-key-prefix", "", "pr212: livy.server.ha.key-prefix `P` (to write --livy-conf; default livy_ha)"),
		restart:      fs.Duration("restart-window", 0, "pr212: how long a new leader keeps its port closed while it restarts (default 10 steps)"),
		selfRedirect: fs.Duration("self-redirect-window", 0, "pr212: how long a new leader answers 307 to itself before and after the restart (default 1 step)"),
		gc:           fs.Bool("gc", false, "livyha profile: run Livy's session GC and heartbeat watchdog too (always on in the other profiles)"),
	}
}

func (p *profileFlags) given(name string) bool {
	set := false
	p.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// check validates --profile and the flags that depend on it.
func (p *profileFlags) check() error {
	spec, err := livytest.ParseProfile(*p.profile)
	if err != nil {
		return errors.New(strings.TrimPrefix(err.Error(), "livytest: "))
	}
	p.spec = spec
	pr := p.pr212()
	for _, name := range []string{"livy-conf", "ha-server-ids", "ha-server-hostnames", "ha-id", "ha-key-prefix", "restart-window", "self-redirect-window"} {
		if p.given(name) && !pr {
			return fmt.Errorf("--%s needs --profile pr212", name)
		}
	}
	if pr && *p.livyConf == "" {
		return errors.New("--profile pr212 needs --livy-conf PATH (the cluster's ids and hostnames)")
	}
	if *p.restart < 0 || *p.selfRedirect < 0 {
		return errors.New("--restart-window and --self-redirect-window must not be negative")
	}
	return nil
}

func (p *profileFlags) pr212() bool  { return strings.HasPrefix(string(p.spec), "pr212") }
func (p *profileFlags) livyha() bool { return strings.HasPrefix(string(p.spec), "livyha") }

// confExists reports whether --livy-conf names an existing file.
func (p *profileFlags) confExists() bool {
	if *p.livyConf == "" {
		return false
	}
	_, err := os.Stat(*p.livyConf)
	return err == nil
}

// resolveConf reads --livy-conf, or writes it from the cluster flags when
// it does not exist (atomically: of several livy-sims starting at once,
// one writes and the others read what it wrote). Cluster flags given
// together with an existing file must agree with it.
func (p *profileFlags) resolveConf(zk, statePrefix, listen string, listenGiven bool) (layout.LivyConf, error) {
	path := *p.livyConf
	var want layout.LivyConf
	if *p.haIDs != "" || *p.haHost != "" {
		ids, hosts := splitList(*p.haIDs), splitList(*p.haHost)
		if len(ids) == 0 || len(hosts) == 0 {
			return nil, errors.New("--ha-server-ids and --ha-server-hostnames go together")
		}
		_, port, err := net.SplitHostPort(listen)
		n, _ := strconv.Atoi(port)
		if err != nil || !listenGiven || n <= 0 {
			return nil, errors.New("writing --livy-conf needs --listen HOST:PORT with a fixed port (every PR #212 server has the same livy.server.port)")
		}
		if zk == "" {
			return nil, errors.New("writing --livy-conf needs --zk (livy.server.ha.zookeeper-url)")
		}
		want = livytest.PR212LivyConf(livytest.PR212Cluster{ZK: zk, IDs: ids, Hosts: hosts, Port: n,
			KeyPrefix: *p.prefix, StatePrefix: statePrefix})
		if _, err := layout.PR212ConfigFrom(want); err != nil {
			return nil, err
		}
	}
	have, err := layout.ReadLivyConf(path)
	switch {
	case err == nil:
		if want != nil {
			if d := confDiff(have, want); d != "" {
				return nil, fmt.Errorf("--livy-conf %s exists and disagrees with the flags: %s", path, d)
			}
		}
		return have, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, err
	case want == nil:
		return nil, fmt.Errorf("--livy-conf %s does not exist; give --ha-server-ids and --ha-server-hostnames to write it", path)
	}
	data, err := want.Marshal()
	if err != nil {
		return nil, err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".livy.conf-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, os.ErrExist) {
			return p.resolveConf(zk, statePrefix, listen, listenGiven) // another livy-sim wrote it first
		}
		return nil, err
	}
	return want, nil
}

// confDiff names the first key where the file and the flags disagree.
func confDiff(have, want layout.LivyConf) string {
	keys := make([]string, 0, len(want))
	for k := range want {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if have[k] != want[k] {
			return fmt.Sprintf("%s is %q in the file, %q from the flags", k, have[k], want[k])
		}
	}
	return ""
}

func splitList(s string) []string {
	var out []string
	for _, v := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		out = append(out, v)
	}
	return out
}

// apply sets the profile's Config fields.
func (p *profileFlags) apply(cfg *livytest.Config, conf layout.LivyConf) {
	cfg.Profile = p.spec
	cfg.Timeouts.GC = *p.gc
	if !p.pr212() {
		return
	}
	cfg.LivyConf = conf
	cfg.HAID = *p.haID
	cfg.RestartWindow = *p.restart
	cfg.SelfRedirectWindow = *p.selfRedirect
}

// haName is the pr212 id for messages: --ha-id, else the id whose
// hostname is --listen's host.
func haName(p *profileFlags, conf layout.LivyConf, listen string) string {
	if *p.haID != "" {
		return *p.haID
	}
	host, _, _ := net.SplitHostPort(listen)
	if pc, err := layout.PR212ConfigFrom(conf); err == nil {
		for _, id := range pc.IDs {
			if pc.Hosts[id] == host {
				return id
			}
		}
	}
	return "?"
}
