module github.com/livyha/livyha

go 1.23.0

require (
	github.com/go-zookeeper/zk v1.0.4
	github.com/hashicorp/go-retryablehttp v0.7.8
)

require github.com/hashicorp/go-cleanhttp v0.5.2 // indirect
