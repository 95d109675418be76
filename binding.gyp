{
  # CPU addon, built by `npm install` (scripts/install.js -> node-gyp rebuild).
  # No -march flags: the SIMD kernels carry __attribute__((target(...))) and are picked at run
  # time from the CPU's features, so one binary runs on any x86-64 (and on other CPUs, scalar).
  "targets": [
    {
      "target_name": "synthtune",
      "sources": [
        "native/addon.cc",
        "native/bindings_bert.cc",
        "native/bindings_train.cc",
        "<!@(node -p \"require('fs').readdirSync('native/cpu').filter(f=>f.endsWith('.cc')).map(f=>'native/cpu/'+f).join(' ')\")"
      ],
      "include_dirs": [
        "<!@(node -p \"require('node-addon-api').include\")",
        "native"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++17", "-std=gnu++20"],
      "cflags": ["-fno-math-errno"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-fno-math-errno"],
      "ldflags": ["-pthread"],
      "configurations": {
        "Release": { "cflags": ["-O3"], "cflags_cc": ["-O3"] }
      },
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/O2", "/std:c++17"] }
      }
    }
  ]
}
