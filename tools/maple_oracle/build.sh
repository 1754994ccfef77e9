#!/bin/sh
# Build the oracle against a kernel source tree: build.sh KERNEL_SRC_DIR
set -e
K=$1; D=$(cd "$(dirname "$0")" && pwd)
cd "$K/tools/testing/radix-tree"
[ -f maple.o ] || make maple
cp "$D/oracle.c" .
cc -I../shared -I. -I../../include -I../../../lib -g -O1 -D_LGPL_SOURCE -fsanitize=address -fsanitize=undefined -c oracle.c -o oracle.o
cc oracle.o xarray-shared.o radix-tree.o idr.o linux.o slab.o find_bit.o bitmap.o hweight.o vsprintf.o xarray.o test.o -lpthread -lurcu -fsanitize=address -fsanitize=undefined -o "$D/oracle"
