package layout

import (
	"fmt"
	"strconv"
)

// This file is the one place that knows livyha's session-HA ownership
// records (docs/design.md, section 4, "LIVY-698 cluster ... with session
// HA"), both their writer and their parser. The format is livyha's own: no
// Livy code implements LIVY-698.
//
//	<root>/session/<kind>/<session id>    data: the owning server's decimal id
//
// kind is Livy's state-store type name, "batch" or "interactive"
// (apache/incubator-livy HEAD fc4202ea, BatchSession.scala:47,
// InteractiveSession.scala:79); Livy's session ids are per type, so batch 5
// and interactive session 5 are two records (SessionStore.scala:88-95
// keeps them under v1/<type>/<id>). The session id is the decimal Int id
// Livy allocates (SessionManager.scala:96-100); Livy's own store reads
// children with toInt and ignores the rest (SessionStore.scala:56-58), but
// livyha writes and accepts only the canonical form (no sign, no leading
// zeros) so that one session has one name. The data has the same syntax as
// the canonical latch data (canonical.go, LatchData/ParseLatchData). The
// leader writes the records and reassigns them when an owner dies; who
// writes and when is the registrar's business, not this file's.

// Session ownership layout.
const (
	SessionDir      = "session"
	KindBatch       = "batch"
	KindInteractive = "interactive"
)

// SessionOwnerDir returns <root>/session/<kind>. root must be a valid
// ZooKeeper path and kind KindBatch or KindInteractive; errors wrap
// ErrBadPath.
func SessionOwnerDir(root, kind string) (string, error) {
	r, err := CleanPath(root)
	if err != nil {
		return "", err
	}
	switch kind {
	case KindBatch, KindInteractive:
	default:
		return "", fmt.Errorf("%w: session kind %q (want %q or %q)", ErrBadPath, truncate(kind, 32), KindBatch, KindInteractive)
	}
	return JoinPath(r, SessionDir, kind), nil
}

// SessionOwnerPath returns <root>/session/<kind>/<id>, the ownership record
// of Livy session id (0..MaxServerID) of that kind. Errors wrap ErrBadPath.
func SessionOwnerPath(root, kind string, id int) (string, error) {
	dir, err := SessionOwnerDir(root, kind)
	if err != nil {
		return "", err
	}
	if id < 0 || id > MaxServerID {
		return "", fmt.Errorf("%w: session id %d out of range", ErrBadPath, id)
	}
	return JoinPath(dir, strconv.Itoa(id)), nil
}

// SessionOwnerData is an ownership record's data: the owning server's
// decimal id, as LatchData writes it. serverID must be 0..MaxServerID.
func SessionOwnerData(serverID int) []byte { return LatchData(serverID) }

// ParseSessionOwner parses an ownership record's data into the owning
// server's id, with ParseLatchData's id syntax. Errors wrap ErrBadRecord.
func ParseSessionOwner(data []byte) (int, error) {
	id, err := parseID(string(data))
	if err != nil {
		return 0, fmt.Errorf("%w: session owner: %v", ErrBadRecord, err)
	}
	return id, nil
}

// ParseSessionNodeName parses an ownership record's name, a Livy session
// id: decimal, non-negative, within 32 bits, without leading zeros. Errors
// wrap ErrBadRecord.
func ParseSessionNodeName(name string) (int, error) {
	id, err := parseID(name)
	if err != nil {
		return 0, fmt.Errorf("%w: session node: %v", ErrBadRecord, err)
	}
	if len(name) > 1 && name[0] == '0' {
		return 0, fmt.Errorf("%w: session node %q has leading zeros", ErrBadRecord, truncate(name, 16))
	}
	return id, nil
}
