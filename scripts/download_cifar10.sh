#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches CIFAR-10 (binary version) into DIR/cifar-10-batches-bin/ and checks it.
#
#   scripts/download_cifar10.sh DIR                      download from the official site (MD5 checked)
#   scripts/download_cifar10.sh --from-archive FILE DIR  extract a local .tar.gz / .tar.xz instead
#   scripts/download_cifar10.sh --help
#
# Afterwards pass `--data DIR` to salun-demo or set SALUN_DATA=DIR.
set -euo pipefail

URL="https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
MD5="c32a1d4ab5d03f1284b67883e8d87530"
BINS=(data_batch_1.bin data_batch_2.bin data_batch_3.bin data_batch_4.bin data_batch_5.bin test_batch.bin)
RECORD_FILE_BYTES=30730000  # 10000 records of 1 + 3072 bytes

usage() {
  cat <<USAGE
Usage: $(basename "$0") [--from-archive FILE] [--sha256sums FILE] DIR

Puts CIFAR-10 (binary version) into DIR/cifar-10-batches-bin/: data_batch_1..5.bin,
test_batch.bin, batches.meta.txt.

  (default)             download $URL
                        with curl or wget and check its MD5 ($MD5)
  --from-archive FILE   extract a local archive (.tar.gz/.tgz or .tar.xz) instead of downloading
  --sha256sums FILE     also check the extracted files against a sha256sum list
  -h, --help            show this help

Then run salun-demo with --data DIR, or export SALUN_DATA=DIR.
USAGE
}

die() { echo "download_cifar10.sh: $*" >&2; exit 1; }

archive="" sums="" dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --from-archive) [[ $# -ge 2 && -n "$2" ]] || die "--from-archive needs a FILE"; archive="$2"; shift 2 ;;
    --from-archive=*) archive="${1#*=}"; [[ -n "$archive" ]] || die "--from-archive needs a FILE"; shift ;;
    --sha256sums) [[ $# -ge 2 && -n "$2" ]] || die "--sha256sums needs a FILE"; sums="$2"; shift 2 ;;
    --sha256sums=*) sums="${1#*=}"; shift ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z "$dir" ]] || die "only one DIR expected, got '$dir' and '$1' (see --help)"; dir="$1"; shift ;;
  esac
done
if [[ $# -gt 0 ]]; then
  [[ -z "$dir" && $# -eq 1 ]] || die "only one DIR expected (see --help)"
  dir="$1"
fi
[[ -n "$dir" ]] || { usage >&2; die "missing DIR"; }
if [[ -n "$sums" ]]; then
  [[ -f "$sums" ]] || die "checksum list '$sums' not found"
  sums="$(cd "$(dirname "$sums")" && pwd)/$(basename "$sums")"
fi

mkdir -p "$dir" || die "cannot create '$dir'"
target="$dir/cifar-10-batches-bin"

md5_of() {
  if command -v md5sum >/dev/null 2>&1; then md5sum "$1" | cut -d' ' -f1
  elif command -v md5 >/dev/null 2>&1; then md5 -q "$1"
  else die "neither md5sum nor md5 is available to check the download"; fi
}

tmp=""
cleanup() { if [[ -n "$tmp" ]]; then rm -rf "$tmp"; fi; }
trap cleanup EXIT

if [[ -z "$archive" ]]; then
  tmp="$(mktemp -d "$dir/.cifar10-download.XXXXXX")"
  archive="$tmp/cifar-10-binary.tar.gz"
  echo "Downloading $URL ..."
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$archive" "$URL" || die "download failed (curl); check the network, or use --from-archive FILE"
  elif command -v wget >/dev/null 2>&1; then
    wget -O "$archive" "$URL" || die "download failed (wget); check the network, or use --from-archive FILE"
  else
    die "neither curl nor wget is installed; install one, or use --from-archive FILE"
  fi
  got="$(md5_of "$archive")"
  [[ "$got" == "$MD5" ]] || die "MD5 mismatch for the download: got $got, expected $MD5 (corrupt or incomplete download)"
  echo "MD5 ok."
fi

[[ -f "$archive" ]] || die "archive '$archive' not found"
case "$archive" in
  *.tar.gz|*.tgz) tar_flag="z" ;;
  *.tar.xz|*.txz) tar_flag="J" ;;
  *.tar) tar_flag="" ;;
  *) die "unsupported archive '$archive' (expected .tar.gz, .tgz, .tar.xz or .tar)" ;;
esac
echo "Extracting $archive into $dir ..."
tar -x${tar_flag}f "$archive" -C "$dir" || die "extracting '$archive' failed"

for f in "${BINS[@]}"; do
  [[ -f "$target/$f" ]] || die "'$target/$f' is missing after extraction (is this the binary version of CIFAR-10?)"
  size=$(wc -c < "$target/$f" | tr -d ' ')
  [[ "$size" == "$RECORD_FILE_BYTES" ]] || die "'$target/$f' has $size bytes, expected $RECORD_FILE_BYTES"
done
if [[ -n "$sums" ]]; then
  (cd "$target" && sha256sum --quiet -c "$sums") || die "SHA-256 check against '$sums' failed"
  echo "SHA-256 ok."
fi
echo "CIFAR-10 ready in $target. Use --data $dir or export SALUN_DATA=$dir"
exit 0
