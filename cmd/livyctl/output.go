package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"gopkg.in/yaml.v3"

	"github.com/livyha/livyha/internal/cli"
	"github.com/livyha/livyha/livyclient"
)

func str(p *string) string {
	if p == nil || *p == "" {
		return "-"
	}
	return cli.OneLine(*p)
}

// writeOut prints v as JSON or YAML (Livy's field names), or, for table,
// as the rows tbl gives.
func writeOut(w io.Writer, format string, v any, header []string, rows [][]string) error {
	var out []byte
	switch format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		out = append(b, '\n')
	case "yaml":
		b, err := toYAML(v)
		if err != nil {
			return err
		}
		out = b
	default:
		var buf bytes.Buffer
		tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
		for _, r := range append([][]string{header}, rows...) {
			for i, c := range r {
				if i > 0 {
					fmt.Fprint(tw, "\t")
				}
				fmt.Fprint(tw, c)
			}
			fmt.Fprint(tw, "\n")
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		out = buf.Bytes()
	}
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// toYAML renders v with the keys of its JSON form (Livy's names).
func toYAML(v any) ([]byte, error) {
	js, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var generic any
	if err := json.Unmarshal(js, &generic); err != nil {
		return nil, err
	}
	return yaml.Marshal(generic)
}

var batchHeader = []string{"ID", "NAME", "STATE", "APPID", "OWNER", "PROXYUSER"}

func batchRow(b *livyclient.Batch) []string {
	return []string{fmt.Sprint(b.ID), str(b.Name), string(b.State), str(b.AppID), str(b.Owner), str(b.ProxyUser)}
}

func printBatch(w io.Writer, format string, b *livyclient.Batch) error {
	return writeOut(w, format, b, batchHeader, [][]string{batchRow(b)})
}

func printBatchList(w io.Writer, format string, l *livyclient.BatchList) error {
	if l.Sessions == nil {
		l.Sessions = []livyclient.Batch{} // [] in JSON, not null
	}
	return writeOut(w, format, l, batchHeader, rowsOf(l.Sessions, batchRow))
}

// rowsOf is the table rows of a list.
func rowsOf[T any](items []T, row func(*T) []string) [][]string {
	rows := make([][]string, len(items))
	for i := range items {
		rows[i] = row(&items[i])
	}
	return rows
}

var sessionHeader = []string{"ID", "NAME", "KIND", "STATE", "APPID", "OWNER", "PROXYUSER"}

func sessionRow(s *livyclient.Session) []string {
	kind := s.Kind
	if kind == "" {
		kind = "-"
	}
	return []string{fmt.Sprint(s.ID), str(s.Name), kind, string(s.State), str(s.AppID), str(s.Owner), str(s.ProxyUser)}
}

func printSession(w io.Writer, format string, s *livyclient.Session) error {
	return writeOut(w, format, s, sessionHeader, [][]string{sessionRow(s)})
}

func printSessionList(w io.Writer, format string, l *livyclient.SessionList) error {
	if l.Sessions == nil {
		l.Sessions = []livyclient.Session{}
	}
	return writeOut(w, format, l, sessionHeader, rowsOf(l.Sessions, sessionRow))
}
