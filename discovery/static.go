package discovery

import "fmt"

func newStaticSource(endpoints []string, cfg config) (Source, error) {
	return nil, fmt.Errorf("%w: static targets are not supported yet", ErrBadTarget)
}
