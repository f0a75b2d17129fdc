package discovery

import "github.com/livyha/livyha/discovery/layout"

// ServerRecord is what a Livy server publishes about itself in the
// canonical layout (see package layout for the format).
type ServerRecord = layout.ServerRecord

// HiveInstance is one HiveServer2-compatible Thrift server found in a Hive
// namespace (see package layout for the formats).
type HiveInstance = layout.HiveInstance

// DefaultRoot is the default root path of the canonical layout.
const DefaultRoot = layout.DefaultRoot

// ErrBadRecord is wrapped by every error about a record that does not
// parse or does not validate.
var ErrBadRecord = layout.ErrBadRecord
