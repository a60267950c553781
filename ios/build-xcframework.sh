#!/usr/bin/env bash
# Builds FieldloopFFI.xcframework (device + simulator static libraries, with the C headers
# and module map UniFFI generates) and the Swift bindings, on a Mac with Xcode and the
# Rust iOS targets:
#   rustup target add aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios
#   bash ios/build-xcframework.sh
# Output: ios/build/FieldloopFFI.xcframework and ios/build/swift/*.swift (added to the
# Xcode project by ios/project.yml).
set -euo pipefail
cd "$(dirname "$0")/.."

out=ios/build
rm -rf "$out"
mkdir -p "$out/headers"

for target in aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios; do
  cargo build --release --locked -p fieldloop-ffi --lib --target "$target"
done

# Swift bindings in library mode, from the host build of the same crate (same metadata).
cargo build --release --locked -p fieldloop-ffi --lib --bin uniffi-bindgen
target/release/uniffi-bindgen generate --library target/release/libfieldloop_ffi.dylib \
  --language swift --out-dir "$out/swift"

# One module map for both components' headers.
cp "$out"/swift/*.h "$out/headers/"
cat "$out"/swift/*.modulemap > "$out/headers/module.modulemap"

lipo -create \
  target/aarch64-apple-ios-sim/release/libfieldloop_ffi.a \
  target/x86_64-apple-ios/release/libfieldloop_ffi.a \
  -output "$out/libfieldloop_ffi-sim.a"

xcodebuild -create-xcframework \
  -library target/aarch64-apple-ios/release/libfieldloop_ffi.a -headers "$out/headers" \
  -library "$out/libfieldloop_ffi-sim.a" -headers "$out/headers" \
  -output "$out/FieldloopFFI.xcframework"
echo "built $out/FieldloopFFI.xcframework and $out/swift"
