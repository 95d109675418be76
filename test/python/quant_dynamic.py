"""onnxruntime's quantize_dynamic on an ONNX file, for test/quantize.test.ts to compare with
synthtune's TypeScript quantiser (lib/models/onnx/quantize.ts).

usage: quant_dynamic.py IN.onnx OUT.onnx int8|uint8 [per_channel]
Only MatMul is quantised (op_types_to_quantize=['MatMul']), as synthtune does.
"""
import logging
import sys

logging.disable(logging.WARNING)

from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402

src, dst, wtype = sys.argv[1], sys.argv[2], sys.argv[3]
per_channel = len(sys.argv) > 4 and sys.argv[4] == 'per_channel'
quantize_dynamic(src, dst, op_types_to_quantize=['MatMul'], per_channel=per_channel,
                 weight_type=QuantType.QInt8 if wtype == 'int8' else QuantType.QUInt8)
