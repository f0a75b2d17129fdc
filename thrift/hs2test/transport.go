package hs2test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"time"

	"github.com/apache/thrift/lib/go/thrift"
)

const (
	maxFrame         = 16 << 20 // largest SASL frame / HTTP body accepted
	maxSaslMsg       = 64 << 10 // largest SASL negotiation message
	handshakeTimeout = 10 * time.Second
)

// streamTransport is an unframed Thrift transport on a connection
// (NOSASL), and the byte stream under a saslTransport.
type streamTransport struct {
	c net.Conn
	r *bufio.Reader
	w *bufio.Writer
}

func newStreamTransport(c net.Conn) *streamTransport {
	return &streamTransport{c: c, r: bufio.NewReaderSize(c, 8<<10), w: bufio.NewWriterSize(c, 8<<10)}
}

func (t *streamTransport) Read(p []byte) (int, error)        { return t.r.Read(p) }
func (t *streamTransport) Write(p []byte) (int, error)       { return t.w.Write(p) }
func (t *streamTransport) Flush(context.Context) error       { return t.w.Flush() }
func (t *streamTransport) Close() error                      { return t.c.Close() }
func (t *streamTransport) Open() error                       { return nil }
func (t *streamTransport) IsOpen() bool                      { return true }
func (t *streamTransport) RemainingBytes() (n uint64)        { return math.MaxUint64 }
func (t *streamTransport) ReadByte() (byte, error)           { return t.r.ReadByte() }
func (t *streamTransport) WriteByte(b byte) error            { return t.w.WriteByte(b) }
func (t *streamTransport) WriteString(s string) (int, error) { return t.w.WriteString(s) }

// SASL negotiation status bytes (Thrift's TSaslTransport).
const (
	saslStart    = 1
	saslOK       = 2
	saslBad      = 3
	saslError    = 4
	saslComplete = 5
)

func readSaslMsg(r *bufio.Reader) (status byte, payload []byte, err error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > maxSaslMsg {
		return hdr[0], nil, fmt.Errorf("SASL message of %d bytes", n)
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0], payload, nil
}

func writeSaslMsg(w *bufio.Writer, status byte, payload []byte) error {
	var hdr [5]byte
	hdr[0] = status
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	_, _ = w.Write(hdr[:])
	_, _ = w.Write(payload)
	return w.Flush()
}

// saslHandshake runs the server side of a SASL PLAIN negotiation (what
// Hive's TSaslServerTransport does) and returns the authenticated user.
// On failure it sends BAD or ERROR with a message, as Hive does.
func (s *Server) saslHandshake(r *bufio.Reader, w *bufio.Writer) (string, error) {
	fail := func(status byte, msg string) (string, error) {
		_ = writeSaslMsg(w, status, []byte(msg))
		return "", errors.New(msg)
	}
	status, mech, err := readSaslMsg(r)
	switch {
	case err != nil && status == 0:
		return "", err
	case err != nil:
		return fail(saslError, err.Error())
	case status != saslStart:
		return fail(saslError, fmt.Sprintf("Expected START status, received %d", status))
	case string(mech) != "PLAIN":
		return fail(saslBad, fmt.Sprintf("Unsupported mechanism type %s", mech))
	}
	status, resp, err := readSaslMsg(r)
	switch {
	case err != nil && status == 0:
		return "", err
	case err != nil:
		return fail(saslError, err.Error())
	case status != saslOK && status != saslComplete:
		return fail(saslError, fmt.Sprintf("Expected OK or COMPLETE status, received %d", status))
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return fail(saslBad, "Error validating the login: invalid PLAIN message")
	}
	user, pass := string(parts[1]), string(parts[2])
	if s.cfg.User != "" && (user != s.cfg.User || pass != s.cfg.Password) {
		return fail(saslBad, "Error validating the login")
	}
	if err := writeSaslMsg(w, saslComplete, nil); err != nil {
		return "", err
	}
	return user, nil
}

// saslTransport is the data phase of a SASL PLAIN connection: every Thrift
// message is a frame, a 4-byte big-endian length and the bytes (PLAIN has
// no security layer, so nothing is wrapped).
type saslTransport struct {
	stream *streamTransport
	rbuf   []byte // rest of the frame being read
	wbuf   bytes.Buffer
}

func (t *saslTransport) Read(p []byte) (int, error) {
	for len(t.rbuf) == 0 {
		var hdr [4]byte
		if _, err := io.ReadFull(t.stream.r, hdr[:]); err != nil {
			return 0, err
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n > maxFrame {
			return 0, thrift.NewTTransportException(thrift.UNKNOWN_TRANSPORT_EXCEPTION,
				fmt.Sprintf("hs2test: SASL frame of %d bytes", n))
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(t.stream.r, buf); err != nil {
			return 0, err
		}
		t.rbuf = buf
	}
	n := copy(p, t.rbuf)
	t.rbuf = t.rbuf[n:]
	return n, nil
}

func (t *saslTransport) Write(p []byte) (int, error) { return t.wbuf.Write(p) }

func (t *saslTransport) Flush(context.Context) error {
	if t.wbuf.Len() == 0 {
		return nil // gohive cannot read an empty frame
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(t.wbuf.Len()))
	_, _ = t.stream.w.Write(hdr[:])
	_, _ = t.stream.w.Write(t.wbuf.Bytes())
	t.wbuf.Reset()
	return t.stream.w.Flush()
}

func (t *saslTransport) Close() error               { return t.stream.Close() }
func (t *saslTransport) Open() error                { return nil }
func (t *saslTransport) IsOpen() bool               { return true }
func (t *saslTransport) RemainingBytes() (n uint64) { return math.MaxUint64 }
