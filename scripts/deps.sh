# Sourced by scripts/demo and scripts/test: installs the Debian packages the build needs
# (only those missing), so a fresh Debian 12 machine needs nothing done by hand.
shop_packages=(
  g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libssl-dev openssl catch2 libcli11-dev libfmt-dev
)
# The fuzz targets' compiler and runtime (tests/fuzz).
shop_fuzz_packages=(clang libfuzzer-14-dev)
shop_install_packages() {
  local missing=()
  for p in "${shop_packages[@]}" "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "Installing: ${missing[*]}"
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  fi
}
# configure DIR [cmake args...]. Debug information as line tables and function names
# (-g1): enough for backtraces, sanitizer reports and perf, and about a quarter less
# compile time than full -g on these template-heavy units.
shop_configure() {
  local dir=$1; shift
  cmake -S "$shop_root" -B "$shop_root/$dir" -G Ninja \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O2 -g1 -DNDEBUG" -DCMAKE_CXX_FLAGS_DEBUG="-g1" "$@" >/dev/null
}
# configure+build DIR [cmake args...]
shop_build() {
  local dir=$1; shift
  shop_configure "$dir" "$@"
  cmake --build "$shop_root/$dir" -j "$(nproc)"
}
# shop_build_fuzzers SECONDS: configures and builds tests/fuzz with clang in build-fuzz,
# each target to run SECONDS under ctest.
shop_build_fuzzers() {
  CXX=clang++ cmake -S "$shop_root" -B "$shop_root/build-fuzz" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" -DSHOP_BUILD_FUZZERS=ON -DSHOP_BUILD_TESTS=OFF \
    -DSHOP_BUILD_TOOLS=OFF -Dshop_fuzz_seconds="$1" >/dev/null
  cmake --build "$shop_root/build-fuzz" -j "$(nproc)"
}
