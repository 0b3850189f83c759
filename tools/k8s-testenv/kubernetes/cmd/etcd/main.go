// etcd server for the raysense test control plane: a thin wrapper around
// etcdmain so the binary is built from the Go module proxy (go.etcd.io/etcd
// server/v3 has relative replace directives, so `go install ...@v` fails).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
