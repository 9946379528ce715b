#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Fetches the reference's ResNet-18 CIFAR-10 weights (the Machine Unlearning Comparator's
# resnet18_cifar10_full.pth, a PyTorch state dict) into DIR/resnet18_cifar10.pth, the name
# `salun-demo experiment --models DIR` looks for.
#
#   scripts/download_models.sh [DIR]                    download from Hugging Face (DIR: models)
#   scripts/download_models.sh --from-file PATH [DIR]   use a local copy instead
#   scripts/download_models.sh --help
#
# The file is checked to be a PyTorch zip checkpoint and, when a SHA-256 is pinned (RESNET18_SHA256
# below, or the environment variable SALUN_RESNET18_SHA256), against it. No checksum is pinned in
# this repository yet: the machine this script was written on has no internet access, so the
# published file's hash could not be computed or verified there. The script prints the hash of
# what it got; fill it in below after a download you have verified (e.g. against the Hugging Face
# page's "SHA256" of the file).
set -euo pipefail

URL="https://huggingface.co/jaeunglee/resnet18-cifar10-unlearning/resolve/main/resnet18_cifar10_full.pth"
# Fill in on the first verified download (64 hex digits). Empty: the hash is printed, not checked.
RESNET18_SHA256="${SALUN_RESNET18_SHA256:-}"
NAME="resnet18_cifar10.pth"

usage() {
  cat <<USAGE
Usage: $(basename "$0") [--from-file PATH] [DIR]

Puts the reference's ResNet-18 weights into DIR/$NAME (DIR defaults to ./models).

  (default)          download $URL
                     with curl or wget
  --from-file PATH   copy a local resnet18_cifar10_full.pth (or any .pth) instead of downloading
  -h, --help         show this help

The file must be a PyTorch zip checkpoint. Its SHA-256 is checked against RESNET18_SHA256 in this
script or \$SALUN_RESNET18_SHA256 when one is set${RESNET18_SHA256:+ (now: $RESNET18_SHA256)}, and printed.
Then: salun-demo experiment --models DIR --archs resnet18   (VGG-16-BN: salun-demo train --arch vgg16_bn)
USAGE
}

die() { echo "download_models.sh: $*" >&2; exit 1; }

from="" dir=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --from-file) [[ $# -ge 2 && -n "$2" ]] || die "--from-file needs a PATH"; from="$2"; shift 2 ;;
    --from-file=*) from="${1#*=}"; [[ -n "$from" ]] || die "--from-file needs a PATH"; shift ;;
    --) shift; break ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z "$dir" ]] || die "only one DIR expected, got '$dir' and '$1' (see --help)"; dir="$1"; shift ;;
  esac
done
if [[ $# -gt 0 ]]; then
  [[ -z "$dir" && $# -eq 1 ]] || die "only one DIR expected (see --help)"
  dir="$1"
fi
dir="${dir:-models}"
if [[ -n "$RESNET18_SHA256" && ! "$RESNET18_SHA256" =~ ^[0-9a-fA-F]{64}$ ]]; then
  die "the pinned SHA-256 '$RESNET18_SHA256' is not 64 hex digits"
fi

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum >/dev/null 2>&1; then shasum -a 256 "$1" | cut -d' ' -f1
  else die "neither sha256sum nor shasum is available to check the file"; fi
}

mkdir -p "$dir" || die "cannot create '$dir'"
tmp="$(mktemp "$dir/.$NAME.XXXXXX")"
trap 'rm -f "$tmp"' EXIT

if [[ -n "$from" ]]; then
  [[ -f "$from" ]] || die "'$from' not found"
  cp "$from" "$tmp" || die "cannot copy '$from'"
else
  echo "Downloading $URL ..."
  if command -v curl >/dev/null 2>&1; then
    curl -fL --retry 3 -o "$tmp" "$URL" || die "download failed (curl); check the network, or use --from-file PATH"
  elif command -v wget >/dev/null 2>&1; then
    wget -O "$tmp" "$URL" || die "download failed (wget); check the network, or use --from-file PATH"
  else
    die "neither curl nor wget is installed; install one, or use --from-file PATH"
  fi
fi

# A PyTorch zip checkpoint starts with a zip local header ("PK\3\4"); an HTML error page does not.
magic="$(head -c 4 "$tmp" | od -An -tx1 | tr -d ' \n')"
[[ "$magic" == "504b0304" ]] || die "'${from:-$URL}' is not a PyTorch zip checkpoint (first bytes $magic)"

got="$(sha256_of "$tmp")"
if [[ -n "$RESNET18_SHA256" ]]; then
  [[ "$got" == "$(echo "$RESNET18_SHA256" | tr 'A-F' 'a-f')" ]] ||
    die "SHA-256 mismatch: got $got, expected $RESNET18_SHA256 (corrupt, incomplete or a different file)"
  echo "SHA-256 ok ($got)."
else
  echo "SHA-256 $got (no checksum pinned: not verified; see the comment at the top of this script)."
fi
chmod 0644 "$tmp"
mv -f "$tmp" "$dir/$NAME"
trap - EXIT
echo "ResNet-18 weights in $dir/$NAME. Run: salun-demo experiment --models $dir --archs resnet18"
