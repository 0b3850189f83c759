#!/usr/bin/env bash
# build.sh - build the test control plane binaries (kube-apiserver,
# kube-controller-manager, kube-scheduler, kubectl, etcd, KubeRay operator,
# kwok) and the Helm client from the Go module proxy into a version-keyed cache:
#   ${RAYSENSE_K8S_BIN_CACHE:-/var/cache/raysense/k8s-bin}/<component>-<version>/<component>
# A component whose cached binary exists and was built by the same recipe
# (ldflags, GOFLAGS, wrapper go.sum; stored in <dir>/recipe) is not rebuilt,
# so a second run is a no-op. Builds run one at a time (the machine has 2
# cores), slowest first.
#
# usage: build.sh [component...]     (default: all components)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# Go >= 1.26: from PATH or /usr/local/go/bin (the official tarball's place);
# failing that, the toolchain module golang.org/toolchain from the Go module
# proxy (the same zip `GOTOOLCHAIN=` would fetch), unpacked into the cache.
GO_TOOLCHAIN=${RAYSENSE_GO_TOOLCHAIN:-go1.26.8}
GO_CACHE=${RAYSENSE_GO_CACHE:-/var/cache/raysense/go}
export PATH="$PATH:/usr/local/go/bin"

go_is_new_enough() {
    local v
    v=$(go env GOVERSION 2>/dev/null) || return 1      # e.g. go1.26.8
    v=${v#go}
    [ "${v%%.*}" -gt 1 ] || { local minor=${v#1.}; [ "${minor%%.*}" -ge 26 ]; }
}

fetch_go_toolchain() {
    local dir="$GO_CACHE/$GO_TOOLCHAIN" arch proxy zip mod
    arch=$(uname -m); case "$arch" in x86_64) arch=amd64 ;; aarch64) arch=arm64 ;; esac
    mod="v0.0.1-$GO_TOOLCHAIN.linux-$arch"
    if [ ! -x "$dir/bin/go" ]; then
        proxy=${GOPROXY:-https://proxy.golang.org}; proxy=${proxy%%[,|]*}
        [ "$proxy" = direct ] || [ "$proxy" = off ] && proxy=https://proxy.golang.org
        mkdir -p "$GO_CACHE"; zip="$GO_CACHE/$GO_TOOLCHAIN.zip"
        log "fetching Go $GO_TOOLCHAIN from $proxy (golang.org/toolchain@$mod)"
        curl -fsSL -o "$zip.tmp" "$proxy/golang.org/toolchain/@v/$mod.zip" ||
            die "cannot download golang.org/toolchain@$mod from $proxy"
        rm -rf "$dir.tmp" && mkdir -p "$dir.tmp"
        unzip -q "$zip.tmp" -d "$dir.tmp" || die "cannot unpack $zip.tmp"
        rm -rf "$dir" && mv "$dir.tmp/golang.org/toolchain@$mod" "$dir" && rm -rf "$dir.tmp" "$zip.tmp"
        chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*   # zip entries carry no mode bits
    fi
    export PATH="$dir/bin:$PATH"
}

go_is_new_enough || fetch_go_toolchain
go_is_new_enough || die "no usable Go >= 1.26 (found: $(go env GOVERSION 2>/dev/null || echo none))"

# The operator also runs RayJob/RayService controllers whose CRDs must exist;
# take them from the very module version that is built.
copy_kuberay_crds() {
    local moddir
    moddir=$(cd "$K8S_TESTENV_DIR/kuberay" && go mod download -json github.com/ray-project/kuberay/ray-operator |
             sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') || true
    [ -d "$moddir/config/crd/bases" ] || die "cannot find the KubeRay module's config/crd/bases (module dir '$moddir')"
    mkdir -p "$1/crd" && cp "$moddir"/config/crd/bases/*.yaml "$1/crd/" || die "copying KubeRay CRDs failed"
}

# ldflags <component> <version>: strip symbols; stamp the Kubernetes version
# the way the upstream Makefile does (otherwise /version says v0.0.0-master).
ldflags() {
    local f='-s -w' v=$2 major minor pkg
    case "$1" in
    kube-*|kubectl)
        major=${v#v}; major=${major%%.*}
        minor=${v#v$major.}; minor=${minor%%.*}
        for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
            f="$f -X $pkg.gitVersion=$v -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
            f="$f -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
        done ;;
    helm)
        # As helm's Makefile does for a release tag (`helm version` shows it).
        f="$f -X helm.sh/helm/v4/internal/version.version=$v"
        f="$f -X helm.sh/helm/v4/internal/version.metadata="
        f="$f -X helm.sh/helm/v4/internal/version.gitTreeState=clean" ;;
    esac
    echo "$f"
}

BUILD_GOFLAGS="-trimpath -mod=readonly -buildvcs=false"

build_one() {
    local comp=$1 spec dir pkg mod ver out start end flags recipe
    spec=$(component_module "$comp") || die "unknown component '$comp' (known: $K8S_COMPONENTS)"
    read -r dir pkg mod <<<"$spec"
    ver=$(component_version "$comp")
    out="$K8S_BIN_CACHE/$comp-$ver"
    if [ "$comp" = kuberay-operator ] && [ ! -f "$out/crd/ray.io_rayjobs.yaml" ]; then
        mkdir -p "$out" || die "cannot create $out"
        copy_kuberay_crds "$out"
    fi
    flags=$(ldflags "$comp" "$ver")
    recipe="$pkg|$flags|$BUILD_GOFLAGS|$(sha256sum <"$K8S_TESTENV_DIR/$dir/go.sum" | cut -c1-16)"
    if [ -x "$out/$comp" ] && [ "$(cat "$out/recipe" 2>/dev/null)" = "$recipe" ]; then
        return 0
    fi
    mkdir -p "$out" || die "cannot create $out"
    log "building $comp $ver (cold builds take minutes; log: $out/build.log)"
    start=$(date +%s)
    # -trimpath and -s -w keep binaries small and reproducible; CGO is off
    # for all of them (etcd is pure Go, kine/sqlite is not used).
    if ! (cd "$K8S_TESTENV_DIR/$dir" &&
          GOFLAGS="$BUILD_GOFLAGS" CGO_ENABLED=0 \
          go build -ldflags="$flags" -o "$out/$comp.tmp" "$pkg") >"$out/build.log" 2>&1; then
        tail -n 30 "$out/build.log" >&2
        die "building $comp $ver failed (full log: $out/build.log)"
    fi
    mv -f "$out/$comp.tmp" "$out/$comp"
    echo "$recipe" >"$out/recipe"
    end=$(date +%s)
    echo "$(date -u +%FT%TZ) $comp $ver $((end - start))s" >>"$K8S_BIN_CACHE/build-times.log"
    log "built $comp $ver in $((end - start))s"
}

mkdir -p "$K8S_BIN_CACHE" || die "cannot create $K8S_BIN_CACHE"
# Two test sessions starting at once must not build into the same files.
exec 9>"$K8S_BIN_CACHE/.build.lock"
flock 9 || die "cannot lock $K8S_BIN_CACHE/.build.lock"

comps=("$@")
[ ${#comps[@]} -gt 0 ] || read -r -a comps <<<"$K8S_COMPONENTS"
for c in "${comps[@]}"; do
    build_one "$c"
done
