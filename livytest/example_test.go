package livytest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/livyha/livyha/livytest"
)

// A standalone server (no ZooKeeper): submit a batch, follow it to the end.
func Example() {
	srv, err := livytest.Start(context.Background(), livytest.Config{Step: 10 * time.Millisecond})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()

	res, err := http.Post(srv.URL()+"/batches", "application/json",
		strings.NewReader(`{"file":"local:///opt/jobs/pi.py","name":"pi"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	var batch struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		State string `json:"state"`
	}
	_ = json.NewDecoder(res.Body).Decode(&batch)
	res.Body.Close()
	fmt.Println(res.StatusCode, res.Header.Get("Location"), batch.ID, batch.Name, batch.State)

	for batch.State != "success" && batch.State != "dead" {
		time.Sleep(10 * time.Millisecond)
		res, err := http.Get(srv.URL() + "/batches/pi/state")
		if err != nil {
			fmt.Println(err)
			return
		}
		_ = json.NewDecoder(res.Body).Decode(&batch)
		res.Body.Close()
	}
	fmt.Println(batch.State)
	// Output:
	// 201 /batches/0 0 pi starting
	// success
}
