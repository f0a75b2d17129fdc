package discovery

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/livyha/livyha/discovery/layout"
	"github.com/livyha/livyha/internal/zktest"
)

func watcherChans(c *zk.Conn) (paths, chans int) {
	m := reflect.ValueOf(c).Elem().FieldByName("watchers")
	it := m.MapRange()
	for it.Next() {
		paths++
		chans += it.Value().Len()
	}
	return
}

func TestOwnerWatchesBounded(t *testing.T) {
	zkc := zktest.Shared(t)
	cs, _ := ParseConnectString(zkc.ConnectString())
	sess, err := dialSession(cs, sessionConfig{timeout: 10 * time.Second, log: discardLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	for sess.State() != zk.StateHasSession {
		time.Sleep(10 * time.Millisecond)
	}
	root := "/rv-watchleak"
	for _, id := range []int{1, 2} {
		p, _ := layout.SessionOwnerPath(root, "batch", id)
		if err := sess.EnsurePath(p[:len(p)-2]); err != nil {
			t.Fatal(err)
		}
		sess.Delete(p)
		if _, err := sess.Create(p, layout.SessionOwnerData(3), 0); err != nil {
			t.Fatal(err)
		}
	}
	tb := newOwnerTable(sess, root, 1, func() {}) // cache of one entry
	defer tb.close()
	ctx := context.Background()
	for i := 0; i < 4000; i++ {
		if _, _, err := tb.Owner(ctx, Batch, 1+i%2, true); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	paths, chans := watcherChans(sess.conn)
	t.Logf("owner cache size %d; go-zookeeper holds %d watcher channels on %d paths", tb.size(), chans, paths)
	if chans > 10 {
		t.Errorf("a 1-entry owner cache left %d watch channels registered", chans)
	}
}
