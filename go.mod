module github.com/livyha/livyha

go 1.23.0

require github.com/go-zookeeper/zk v1.0.4
