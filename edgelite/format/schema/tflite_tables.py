"""The enums of tflite_generated.py and the defaults of its object API's
tables: what reading a model needs, without importing the generated module
(~17 ms: 360 classes, 745 functions) or flatbuffers. Written by
`scripts/gen_schema.py`; do not edit."""


class ActivationFunctionType:
    NONE = 0
    RELU = 1
    RELU_N1_TO_1 = 2
    RELU6 = 3
    TANH = 4
    SIGN_BIT = 5


class BuiltinOperator:
    ADD = 0
    AVERAGE_POOL_2D = 1
    CONCATENATION = 2
    CONV_2D = 3
    DEPTHWISE_CONV_2D = 4
    DEPTH_TO_SPACE = 5
    DEQUANTIZE = 6
    EMBEDDING_LOOKUP = 7
    FLOOR = 8
    FULLY_CONNECTED = 9
    HASHTABLE_LOOKUP = 10
    L2_NORMALIZATION = 11
    L2_POOL_2D = 12
    LOCAL_RESPONSE_NORMALIZATION = 13
    LOGISTIC = 14
    LSH_PROJECTION = 15
    LSTM = 16
    MAX_POOL_2D = 17
    MUL = 18
    RELU = 19
    RELU_N1_TO_1 = 20
    RELU6 = 21
    RESHAPE = 22
    RESIZE_BILINEAR = 23
    RNN = 24
    SOFTMAX = 25
    SPACE_TO_DEPTH = 26
    SVDF = 27
    TANH = 28
    CONCAT_EMBEDDINGS = 29
    SKIP_GRAM = 30
    CALL = 31
    CUSTOM = 32
    EMBEDDING_LOOKUP_SPARSE = 33
    PAD = 34
    UNIDIRECTIONAL_SEQUENCE_RNN = 35
    GATHER = 36
    BATCH_TO_SPACE_ND = 37
    SPACE_TO_BATCH_ND = 38
    TRANSPOSE = 39
    MEAN = 40
    SUB = 41
    DIV = 42
    SQUEEZE = 43
    UNIDIRECTIONAL_SEQUENCE_LSTM = 44
    STRIDED_SLICE = 45
    BIDIRECTIONAL_SEQUENCE_RNN = 46
    EXP = 47
    TOPK_V2 = 48
    SPLIT = 49
    LOG_SOFTMAX = 50
    DELEGATE = 51
    BIDIRECTIONAL_SEQUENCE_LSTM = 52
    CAST = 53
    PRELU = 54
    MAXIMUM = 55
    ARG_MAX = 56
    MINIMUM = 57
    LESS = 58
    NEG = 59
    PADV2 = 60
    GREATER = 61
    GREATER_EQUAL = 62
    LESS_EQUAL = 63
    SELECT = 64
    SLICE = 65
    SIN = 66
    TRANSPOSE_CONV = 67
    SPARSE_TO_DENSE = 68
    TILE = 69
    EXPAND_DIMS = 70
    EQUAL = 71
    NOT_EQUAL = 72
    LOG = 73
    SUM = 74
    SQRT = 75
    RSQRT = 76
    SHAPE = 77
    POW = 78
    ARG_MIN = 79
    FAKE_QUANT = 80
    REDUCE_PROD = 81
    REDUCE_MAX = 82
    PACK = 83
    LOGICAL_OR = 84
    ONE_HOT = 85
    LOGICAL_AND = 86
    LOGICAL_NOT = 87
    UNPACK = 88
    REDUCE_MIN = 89
    FLOOR_DIV = 90
    REDUCE_ANY = 91
    SQUARE = 92
    ZEROS_LIKE = 93
    FILL = 94
    FLOOR_MOD = 95
    RANGE = 96
    RESIZE_NEAREST_NEIGHBOR = 97
    LEAKY_RELU = 98
    SQUARED_DIFFERENCE = 99
    MIRROR_PAD = 100
    ABS = 101
    SPLIT_V = 102
    UNIQUE = 103
    CEIL = 104
    REVERSE_V2 = 105
    ADD_N = 106
    GATHER_ND = 107
    COS = 108
    WHERE = 109
    RANK = 110
    ELU = 111
    REVERSE_SEQUENCE = 112
    MATRIX_DIAG = 113
    QUANTIZE = 114
    MATRIX_SET_DIAG = 115
    ROUND = 116
    HARD_SWISH = 117
    IF = 118
    WHILE = 119
    NON_MAX_SUPPRESSION_V4 = 120
    NON_MAX_SUPPRESSION_V5 = 121
    SCATTER_ND = 122
    SELECT_V2 = 123
    DENSIFY = 124
    SEGMENT_SUM = 125
    BATCH_MATMUL = 126
    PLACEHOLDER_FOR_GREATER_OP_CODES = 127
    CUMSUM = 128
    CALL_ONCE = 129
    BROADCAST_TO = 130
    RFFT2D = 131
    CONV_3D = 132
    IMAG = 133
    REAL = 134
    COMPLEX_ABS = 135
    HASHTABLE = 136
    HASHTABLE_FIND = 137
    HASHTABLE_IMPORT = 138
    HASHTABLE_SIZE = 139
    REDUCE_ALL = 140
    CONV_3D_TRANSPOSE = 141
    VAR_HANDLE = 142
    READ_VARIABLE = 143
    ASSIGN_VARIABLE = 144
    BROADCAST_ARGS = 145
    RANDOM_STANDARD_NORMAL = 146
    BUCKETIZE = 147
    RANDOM_UNIFORM = 148
    MULTINOMIAL = 149
    GELU = 150
    DYNAMIC_UPDATE_SLICE = 151
    RELU_0_TO_1 = 152
    UNSORTED_SEGMENT_PROD = 153
    UNSORTED_SEGMENT_MAX = 154
    UNSORTED_SEGMENT_SUM = 155
    ATAN2 = 156
    UNSORTED_SEGMENT_MIN = 157
    SIGN = 158
    BITCAST = 159
    BITWISE_XOR = 160
    RIGHT_SHIFT = 161
    STABLEHLO_LOGISTIC = 162
    STABLEHLO_ADD = 163
    STABLEHLO_DIVIDE = 164
    STABLEHLO_MULTIPLY = 165
    STABLEHLO_MAXIMUM = 166
    STABLEHLO_RESHAPE = 167
    STABLEHLO_CLAMP = 168
    STABLEHLO_CONCATENATE = 169
    STABLEHLO_BROADCAST_IN_DIM = 170
    STABLEHLO_CONVOLUTION = 171
    STABLEHLO_SLICE = 172
    STABLEHLO_CUSTOM_CALL = 173
    STABLEHLO_REDUCE = 174
    STABLEHLO_ABS = 175
    STABLEHLO_AND = 176
    STABLEHLO_COSINE = 177
    STABLEHLO_EXPONENTIAL = 178
    STABLEHLO_FLOOR = 179
    STABLEHLO_LOG = 180
    STABLEHLO_MINIMUM = 181
    STABLEHLO_NEGATE = 182
    STABLEHLO_OR = 183
    STABLEHLO_POWER = 184
    STABLEHLO_REMAINDER = 185
    STABLEHLO_RSQRT = 186
    STABLEHLO_SELECT = 187
    STABLEHLO_SUBTRACT = 188
    STABLEHLO_TANH = 189
    STABLEHLO_SCATTER = 190
    STABLEHLO_COMPARE = 191
    STABLEHLO_CONVERT = 192
    STABLEHLO_DYNAMIC_SLICE = 193
    STABLEHLO_DYNAMIC_UPDATE_SLICE = 194
    STABLEHLO_PAD = 195
    STABLEHLO_IOTA = 196
    STABLEHLO_DOT_GENERAL = 197
    STABLEHLO_REDUCE_WINDOW = 198
    STABLEHLO_SORT = 199
    STABLEHLO_WHILE = 200
    STABLEHLO_GATHER = 201
    STABLEHLO_TRANSPOSE = 202
    DILATE = 203
    STABLEHLO_RNG_BIT_GENERATOR = 204
    REDUCE_WINDOW = 205
    STABLEHLO_COMPOSITE = 206
    STABLEHLO_SHIFT_LEFT = 207
    STABLEHLO_CBRT = 208
    STABLEHLO_CASE = 209


class BuiltinOptions:
    NONE = 0
    Conv2DOptions = 1
    DepthwiseConv2DOptions = 2
    ConcatEmbeddingsOptions = 3
    LSHProjectionOptions = 4
    Pool2DOptions = 5
    SVDFOptions = 6
    RNNOptions = 7
    FullyConnectedOptions = 8
    SoftmaxOptions = 9
    ConcatenationOptions = 10
    AddOptions = 11
    L2NormOptions = 12
    LocalResponseNormalizationOptions = 13
    LSTMOptions = 14
    ResizeBilinearOptions = 15
    CallOptions = 16
    ReshapeOptions = 17
    SkipGramOptions = 18
    SpaceToDepthOptions = 19
    EmbeddingLookupSparseOptions = 20
    MulOptions = 21
    PadOptions = 22
    GatherOptions = 23
    BatchToSpaceNDOptions = 24
    SpaceToBatchNDOptions = 25
    TransposeOptions = 26
    ReducerOptions = 27
    SubOptions = 28
    DivOptions = 29
    SqueezeOptions = 30
    SequenceRNNOptions = 31
    StridedSliceOptions = 32
    ExpOptions = 33
    TopKV2Options = 34
    SplitOptions = 35
    LogSoftmaxOptions = 36
    CastOptions = 37
    DequantizeOptions = 38
    MaximumMinimumOptions = 39
    ArgMaxOptions = 40
    LessOptions = 41
    NegOptions = 42
    PadV2Options = 43
    GreaterOptions = 44
    GreaterEqualOptions = 45
    LessEqualOptions = 46
    SelectOptions = 47
    SliceOptions = 48
    TransposeConvOptions = 49
    SparseToDenseOptions = 50
    TileOptions = 51
    ExpandDimsOptions = 52
    EqualOptions = 53
    NotEqualOptions = 54
    ShapeOptions = 55
    PowOptions = 56
    ArgMinOptions = 57
    FakeQuantOptions = 58
    PackOptions = 59
    LogicalOrOptions = 60
    OneHotOptions = 61
    LogicalAndOptions = 62
    LogicalNotOptions = 63
    UnpackOptions = 64
    FloorDivOptions = 65
    SquareOptions = 66
    ZerosLikeOptions = 67
    FillOptions = 68
    BidirectionalSequenceLSTMOptions = 69
    BidirectionalSequenceRNNOptions = 70
    UnidirectionalSequenceLSTMOptions = 71
    FloorModOptions = 72
    RangeOptions = 73
    ResizeNearestNeighborOptions = 74
    LeakyReluOptions = 75
    SquaredDifferenceOptions = 76
    MirrorPadOptions = 77
    AbsOptions = 78
    SplitVOptions = 79
    UniqueOptions = 80
    ReverseV2Options = 81
    AddNOptions = 82
    GatherNdOptions = 83
    CosOptions = 84
    WhereOptions = 85
    RankOptions = 86
    ReverseSequenceOptions = 87
    MatrixDiagOptions = 88
    QuantizeOptions = 89
    MatrixSetDiagOptions = 90
    HardSwishOptions = 91
    IfOptions = 92
    WhileOptions = 93
    DepthToSpaceOptions = 94
    NonMaxSuppressionV4Options = 95
    NonMaxSuppressionV5Options = 96
    ScatterNdOptions = 97
    SelectV2Options = 98
    DensifyOptions = 99
    SegmentSumOptions = 100
    BatchMatMulOptions = 101
    CumsumOptions = 102
    CallOnceOptions = 103
    BroadcastToOptions = 104
    Rfft2dOptions = 105
    Conv3DOptions = 106
    HashtableOptions = 107
    HashtableFindOptions = 108
    HashtableImportOptions = 109
    HashtableSizeOptions = 110
    VarHandleOptions = 111
    ReadVariableOptions = 112
    AssignVariableOptions = 113
    RandomOptions = 114
    BucketizeOptions = 115
    GeluOptions = 116
    DynamicUpdateSliceOptions = 117
    UnsortedSegmentProdOptions = 118
    UnsortedSegmentMaxOptions = 119
    UnsortedSegmentMinOptions = 120
    UnsortedSegmentSumOptions = 121
    ATan2Options = 122
    SignOptions = 123
    BitcastOptions = 124
    BitwiseXorOptions = 125
    RightShiftOptions = 126


class BuiltinOptions2:
    NONE = 0
    StablehloConcatenateOptions = 1
    StablehloBroadcastInDimOptions = 2
    StablehloSliceOptions = 3
    StablehloConvolutionOptions = 4
    StablehloCustomCallOptions = 5
    StablehloReduceOptions = 6
    StablehloScatterOptions = 7
    StablehloCompareOptions = 8
    StablehloDynamicSliceOptions = 9
    StablehloPadOptions = 10
    StablehloIotaOptions = 11
    StablehloDotGeneralOptions = 12
    StablehloReduceWindowOptions = 13
    StablehloSortOptions = 14
    StablehloWhileOptions = 15
    StablehloGatherOptions = 16
    StablehloTransposeOptions = 17
    DilateOptions = 18
    StablehloRngBitGeneratorOptions = 19
    ReduceWindowOptions = 20
    StableHLOCompositeOptions = 21
    StablehloShiftLeftOptions = 22
    StablehloCaseOptions = 23


class CombinerType:
    SUM = 0
    MEAN = 1
    SQRTN = 2


class CustomOptionsFormat:
    FLEXBUFFERS = 0


class DimensionType:
    DENSE = 0
    SPARSE_CSR = 1


class FullyConnectedOptionsWeightsFormat:
    DEFAULT = 0
    SHUFFLED4x16INT8 = 1


class LSHProjectionType:
    UNKNOWN = 0
    SPARSE = 1
    DENSE = 2


class LSTMKernelType:
    FULL = 0
    BASIC = 1


class MirrorPadMode:
    REFLECT = 0
    SYMMETRIC = 1


class Padding:
    SAME = 0
    VALID = 1


class QuantizationDetails:
    NONE = 0
    CustomQuantization = 1
    BlockwiseQuantization = 2
    MultiAxisQuantization = 3


class ReduceWindowFunction:
    UNSUPPORTED = 0
    ADD = 1
    MUL = 2
    MINIMUM = 3
    MAXIMUM = 4
    ALL = 5
    ANY = 6


class RngAlgorithm:
    DEFAULT = 0
    PHILOX = 1
    THREEFRY = 2


class SparseIndexVector:
    NONE = 0
    Int32Vector = 1
    Uint16Vector = 2
    Uint8Vector = 3


class StablehloComparisonDirection:
    STABLEHLO_COMPARISON_DIRECTION_EQ = 0
    STABLEHLO_COMPARISON_DIRECTION_NE = 1
    STABLEHLO_COMPARISON_DIRECTION_GE = 2
    STABLEHLO_COMPARISON_DIRECTION_GT = 3
    STABLEHLO_COMPARISON_DIRECTION_LE = 4
    STABLEHLO_COMPARISON_DIRECTION_LT = 5


class StablehloComparisonType:
    STABLEHLO_COMPARISON_TYPE_NOTYPE = 0
    STABLEHLO_COMPARISON_TYPE_FLOAT = 1
    STABLEHLO_COMPARISON_TYPE_FLOAT_TOTAL_ORDER = 2
    STABLEHLO_COMPARISON_TYPE_SIGNED = 3
    STABLEHLO_COMPARISON_TYPE_UNSIGNED = 4


class StablehloPrecisionConfig:
    DEFAULT = 0
    HIGH = 1
    HIGHEST = 2


class TensorType:
    FLOAT32 = 0
    FLOAT16 = 1
    INT32 = 2
    UINT8 = 3
    INT64 = 4
    STRING = 5
    BOOL = 6
    INT16 = 7
    COMPLEX64 = 8
    INT8 = 9
    FLOAT64 = 10
    COMPLEX128 = 11
    UINT64 = 12
    RESOURCE = 13
    VARIANT = 14
    UINT32 = 15
    UINT16 = 16
    INT4 = 17
    BFLOAT16 = 18
    INT2 = 19
    UINT4 = 20
    FLOAT8_E4M3FN = 21
    FLOAT8_E5M2 = 22


SCHEMA_ROOT = 'Model'
SCHEMA_IDENTIFIER = 'TFL3'
SCHEMA_ENUMS = {'TensorType': 'byte', 'DimensionType': 'byte', 'BuiltinOperator': 'int32', 'StablehloPrecisionConfig': 'uint', 'StablehloComparisonDirection': 'uint', 'StablehloComparisonType': 'uint', 'RngAlgorithm': 'byte', 'Padding': 'byte', 'ActivationFunctionType': 'byte', 'LSHProjectionType': 'byte', 'FullyConnectedOptionsWeightsFormat': 'byte', 'LSTMKernelType': 'byte', 'CombinerType': 'byte', 'MirrorPadMode': 'byte', 'ReduceWindowFunction': 'int', 'CustomOptionsFormat': 'byte'}
SCHEMA_UNIONS = {
    'QuantizationDetails': ['CustomQuantization', 'BlockwiseQuantization', 'MultiAxisQuantization'],
    'SparseIndexVector': ['Int32Vector', 'Uint16Vector', 'Uint8Vector'],
    'BuiltinOptions': ['Conv2DOptions', 'DepthwiseConv2DOptions', 'ConcatEmbeddingsOptions', 'LSHProjectionOptions', 'Pool2DOptions', 'SVDFOptions', 'RNNOptions', 'FullyConnectedOptions', 'SoftmaxOptions', 'ConcatenationOptions', 'AddOptions', 'L2NormOptions', 'LocalResponseNormalizationOptions', 'LSTMOptions', 'ResizeBilinearOptions', 'CallOptions', 'ReshapeOptions', 'SkipGramOptions', 'SpaceToDepthOptions', 'EmbeddingLookupSparseOptions', 'MulOptions', 'PadOptions', 'GatherOptions', 'BatchToSpaceNDOptions', 'SpaceToBatchNDOptions', 'TransposeOptions', 'ReducerOptions', 'SubOptions', 'DivOptions', 'SqueezeOptions', 'SequenceRNNOptions', 'StridedSliceOptions', 'ExpOptions', 'TopKV2Options', 'SplitOptions', 'LogSoftmaxOptions', 'CastOptions', 'DequantizeOptions', 'MaximumMinimumOptions', 'ArgMaxOptions', 'LessOptions', 'NegOptions', 'PadV2Options', 'GreaterOptions', 'GreaterEqualOptions', 'LessEqualOptions', 'SelectOptions', 'SliceOptions', 'TransposeConvOptions', 'SparseToDenseOptions', 'TileOptions', 'ExpandDimsOptions', 'EqualOptions', 'NotEqualOptions', 'ShapeOptions', 'PowOptions', 'ArgMinOptions', 'FakeQuantOptions', 'PackOptions', 'LogicalOrOptions', 'OneHotOptions', 'LogicalAndOptions', 'LogicalNotOptions', 'UnpackOptions', 'FloorDivOptions', 'SquareOptions', 'ZerosLikeOptions', 'FillOptions', 'BidirectionalSequenceLSTMOptions', 'BidirectionalSequenceRNNOptions', 'UnidirectionalSequenceLSTMOptions', 'FloorModOptions', 'RangeOptions', 'ResizeNearestNeighborOptions', 'LeakyReluOptions', 'SquaredDifferenceOptions', 'MirrorPadOptions', 'AbsOptions', 'SplitVOptions', 'UniqueOptions', 'ReverseV2Options', 'AddNOptions', 'GatherNdOptions', 'CosOptions', 'WhereOptions', 'RankOptions', 'ReverseSequenceOptions', 'MatrixDiagOptions', 'QuantizeOptions', 'MatrixSetDiagOptions', 'HardSwishOptions', 'IfOptions', 'WhileOptions', 'DepthToSpaceOptions', 'NonMaxSuppressionV4Options', 'NonMaxSuppressionV5Options', 'ScatterNdOptions', 'SelectV2Options', 'DensifyOptions', 'SegmentSumOptions', 'BatchMatMulOptions', 'CumsumOptions', 'CallOnceOptions', 'BroadcastToOptions', 'Rfft2dOptions', 'Conv3DOptions', 'HashtableOptions', 'HashtableFindOptions', 'HashtableImportOptions', 'HashtableSizeOptions', 'VarHandleOptions', 'ReadVariableOptions', 'AssignVariableOptions', 'RandomOptions', 'BucketizeOptions', 'GeluOptions', 'DynamicUpdateSliceOptions', 'UnsortedSegmentProdOptions', 'UnsortedSegmentMaxOptions', 'UnsortedSegmentMinOptions', 'UnsortedSegmentSumOptions', 'ATan2Options', 'SignOptions', 'BitcastOptions', 'BitwiseXorOptions', 'RightShiftOptions'],
    'BuiltinOptions2': ['StablehloConcatenateOptions', 'StablehloBroadcastInDimOptions', 'StablehloSliceOptions', 'StablehloConvolutionOptions', 'StablehloCustomCallOptions', 'StablehloReduceOptions', 'StablehloScatterOptions', 'StablehloCompareOptions', 'StablehloDynamicSliceOptions', 'StablehloPadOptions', 'StablehloIotaOptions', 'StablehloDotGeneralOptions', 'StablehloReduceWindowOptions', 'StablehloSortOptions', 'StablehloWhileOptions', 'StablehloGatherOptions', 'StablehloTransposeOptions', 'DilateOptions', 'StablehloRngBitGeneratorOptions', 'ReduceWindowOptions', 'StableHLOCompositeOptions', 'StablehloShiftLeftOptions', 'StablehloCaseOptions'],
}
SCHEMA_TABLES = {
    'CustomQuantization': [('custom', 'ubyte', True, False)],
    'BlockwiseQuantization': [('scales', 'int', False, False), ('zero_points', 'int', False, False), ('block_size', 'int', False, False), ('block_shape', 'int', True, False)],
    'MultiAxisQuantization': [('scales', 'int', False, False), ('zero_points', 'int', False, False), ('block_size', 'int', False, False), ('quantized_dimensions', 'int', True, False)],
    'QuantizationParameters': [('min', 'float', True, False), ('max', 'float', True, False), ('scale', 'float', True, False), ('zero_point', 'long', True, False), ('details', 'QuantizationDetails', False, False), ('quantized_dimension', 'int', False, False)],
    'Int32Vector': [('values', 'int', True, False)],
    'Uint16Vector': [('values', 'ushort', True, False)],
    'Uint8Vector': [('values', 'ubyte', True, False)],
    'DimensionMetadata': [('format', 'DimensionType', False, False), ('dense_size', 'int', False, False), ('array_segments', 'SparseIndexVector', False, False), ('array_indices', 'SparseIndexVector', False, False)],
    'SparsityParameters': [('traversal_order', 'int', True, False), ('block_map', 'int', True, False), ('dim_metadata', 'DimensionMetadata', True, False)],
    'VariantSubType': [('shape', 'int', True, False), ('type', 'TensorType', False, False), ('has_rank', 'bool', False, False)],
    'Tensor': [('shape', 'int', True, False), ('type', 'TensorType', False, False), ('buffer', 'uint', False, False), ('name', 'string', False, False), ('quantization', 'QuantizationParameters', False, False), ('is_variable', 'bool', False, False), ('sparsity', 'SparsityParameters', False, False), ('shape_signature', 'int', True, False), ('has_rank', 'bool', False, False), ('variant_tensors', 'VariantSubType', True, False), ('external_buffer', 'uint', False, False)],
    'StablehloGatherOptions': [('offset_dims', 'long', True, False), ('collapsed_slice_dims', 'long', True, False), ('start_index_map', 'long', True, False), ('index_vector_dim', 'long', False, False), ('slice_sizes', 'long', True, False), ('indices_are_sorted', 'bool', False, False)],
    'StablehloTransposeOptions': [('permutation', 'long', True, False)],
    'StablehloDotGeneralOptions': [('lhs_batching_dimensions', 'long', True, False), ('rhs_batching_dimensions', 'long', True, False), ('lhs_contracting_dimensions', 'long', True, False), ('rhs_contracting_dimensions', 'long', True, False), ('precision_config', 'StablehloPrecisionConfig', True, False)],
    'StablehloReduceWindowOptions': [('window_dimensions', 'long', True, False), ('window_strides', 'long', True, False), ('base_dilations', 'long', True, False), ('window_dilations', 'long', True, False), ('padding', 'long', True, False), ('body_subgraph_index', 'int', False, False)],
    'StablehloWhileOptions': [('cond_subgraph_index', 'int', False, False), ('body_subgraph_index', 'int', False, False)],
    'StablehloSortOptions': [('dimension', 'long', False, False), ('is_stable', 'bool', False, False), ('comparator_subgraph_index', 'int', False, False)],
    'StablehloConcatenateOptions': [('dimension', 'long', False, False)],
    'StablehloBroadcastInDimOptions': [('broadcast_dimensions', 'long', True, False)],
    'StablehloCompareOptions': [('comparison_direction', 'StablehloComparisonDirection', False, False), ('compare_type', 'StablehloComparisonType', False, False)],
    'StablehloDynamicSliceOptions': [('slice_sizes', 'long', True, False)],
    'StablehloPadOptions': [('edge_padding_low', 'long', True, False), ('edge_padding_high', 'long', True, False), ('interior_padding', 'long', True, False)],
    'StablehloIotaOptions': [('iota_dimension', 'long', False, False)],
    'StablehloCustomCallOptions': [('call_target_name', 'string', False, False), ('has_side_effect', 'bool', False, False), ('backend_config', 'string', False, False), ('api_version', 'int', False, False), ('called_computations', 'int', True, False), ('custom_attributes', 'ubyte', True, False)],
    'StablehloReduceOptions': [('dimensions', 'long', True, False), ('body_subgraph_index', 'int', False, False)],
    'StablehloSliceOptions': [('start_indices', 'long', True, False), ('limit_indices', 'long', True, False), ('strides', 'long', True, False)],
    'StablehloConvolutionOptions': [('window_strides', 'long', True, False), ('padding', 'long', True, False), ('lhs_dilation', 'long', True, False), ('rhs_dilation', 'long', True, False), ('window_reversal', 'bool', True, False), ('input_batch_dimension', 'long', False, False), ('input_feature_dimension', 'long', False, False), ('input_spatial_dimensions', 'long', True, False), ('kernel_input_feature_dimension', 'long', False, False), ('kernel_output_feature_dimension', 'long', False, False), ('kernel_spatial_dimensions', 'long', True, False), ('output_batch_dimension', 'long', False, False), ('output_feature_dimension', 'long', False, False), ('output_spatial_dimensions', 'long', True, False), ('feature_group_count', 'long', False, False), ('batch_group_count', 'long', False, False), ('precision_config', 'StablehloPrecisionConfig', True, False)],
    'StablehloScatterOptions': [('indices_are_sorted', 'bool', False, False), ('update_window_dims', 'long', True, False), ('inserted_window_dims', 'long', True, False), ('scatter_dims_to_operand_dims', 'long', True, False), ('index_vector_dim', 'long', False, False), ('unique_indices', 'bool', False, False), ('update_computation_subgraph_index', 'int', False, False)],
    'StablehloCaseOptions': [('branch_subgraph_indices', 'int', True, False)],
    'StablehloRngBitGeneratorOptions': [('algorithm', 'RngAlgorithm', False, False)],
    'Conv2DOptions': [('padding', 'Padding', False, False), ('stride_w', 'int', False, False), ('stride_h', 'int', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False), ('dilation_w_factor', 'int', False, False), ('dilation_h_factor', 'int', False, False), ('quantized_bias_type', 'TensorType', False, False)],
    'Conv3DOptions': [('padding', 'Padding', False, False), ('stride_d', 'int', False, False), ('stride_w', 'int', False, False), ('stride_h', 'int', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False), ('dilation_d_factor', 'int', False, False), ('dilation_w_factor', 'int', False, False), ('dilation_h_factor', 'int', False, False)],
    'Pool2DOptions': [('padding', 'Padding', False, False), ('stride_w', 'int', False, False), ('stride_h', 'int', False, False), ('filter_width', 'int', False, False), ('filter_height', 'int', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False)],
    'DepthwiseConv2DOptions': [('padding', 'Padding', False, False), ('stride_w', 'int', False, False), ('stride_h', 'int', False, False), ('depth_multiplier', 'int', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False), ('dilation_w_factor', 'int', False, False), ('dilation_h_factor', 'int', False, False)],
    'ConcatEmbeddingsOptions': [('num_channels', 'int', False, False), ('num_columns_per_channel', 'int', True, False), ('embedding_dim_per_channel', 'int', True, False)],
    'LSHProjectionOptions': [('type', 'LSHProjectionType', False, False)],
    'SVDFOptions': [('rank', 'int', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False), ('asymmetric_quantize_inputs', 'bool', False, False)],
    'RNNOptions': [('fused_activation_function', 'ActivationFunctionType', False, False), ('asymmetric_quantize_inputs', 'bool', False, False)],
    'SequenceRNNOptions': [('time_major', 'bool', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False), ('asymmetric_quantize_inputs', 'bool', False, False)],
    'BidirectionalSequenceRNNOptions': [('time_major', 'bool', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False), ('merge_outputs', 'bool', False, False), ('asymmetric_quantize_inputs', 'bool', False, False)],
    'FullyConnectedOptions': [('fused_activation_function', 'ActivationFunctionType', False, False), ('weights_format', 'FullyConnectedOptionsWeightsFormat', False, False), ('keep_num_dims', 'bool', False, False), ('asymmetric_quantize_inputs', 'bool', False, False), ('quantized_bias_type', 'TensorType', False, False), ('quant_spec', 'ubyte', True, False)],
    'SoftmaxOptions': [('beta', 'float', False, False)],
    'ConcatenationOptions': [('axis', 'int', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False)],
    'AddOptions': [('fused_activation_function', 'ActivationFunctionType', False, False), ('pot_scale_int16', 'bool', False, False)],
    'MulOptions': [('fused_activation_function', 'ActivationFunctionType', False, False)],
    'L2NormOptions': [('fused_activation_function', 'ActivationFunctionType', False, False)],
    'LocalResponseNormalizationOptions': [('radius', 'int', False, False), ('bias', 'float', False, False), ('alpha', 'float', False, False), ('beta', 'float', False, False)],
    'LSTMOptions': [('fused_activation_function', 'ActivationFunctionType', False, False), ('cell_clip', 'float', False, False), ('proj_clip', 'float', False, False), ('kernel_type', 'LSTMKernelType', False, False), ('asymmetric_quantize_inputs', 'bool', False, False)],
    'UnidirectionalSequenceLSTMOptions': [('fused_activation_function', 'ActivationFunctionType', False, False), ('cell_clip', 'float', False, False), ('proj_clip', 'float', False, False), ('time_major', 'bool', False, False), ('asymmetric_quantize_inputs', 'bool', False, False), ('diagonal_recurrent_tensors', 'bool', False, False)],
    'BidirectionalSequenceLSTMOptions': [('fused_activation_function', 'ActivationFunctionType', False, False), ('cell_clip', 'float', False, False), ('proj_clip', 'float', False, False), ('merge_outputs', 'bool', False, False), ('time_major', 'bool', False, False), ('asymmetric_quantize_inputs', 'bool', False, False)],
    'ResizeBilinearOptions': [('new_height', 'int', False, True), ('new_width', 'int', False, True), ('align_corners', 'bool', False, False), ('half_pixel_centers', 'bool', False, False)],
    'ResizeNearestNeighborOptions': [('align_corners', 'bool', False, False), ('half_pixel_centers', 'bool', False, False)],
    'CallOptions': [('subgraph', 'uint', False, False)],
    'PadOptions': [],
    'PadV2Options': [],
    'ReshapeOptions': [('new_shape', 'int', True, False)],
    'SpaceToBatchNDOptions': [],
    'BatchToSpaceNDOptions': [],
    'SkipGramOptions': [('ngram_size', 'int', False, False), ('max_skip_size', 'int', False, False), ('include_all_ngrams', 'bool', False, False)],
    'SpaceToDepthOptions': [('block_size', 'int', False, False)],
    'DepthToSpaceOptions': [('block_size', 'int', False, False)],
    'SubOptions': [('fused_activation_function', 'ActivationFunctionType', False, False), ('pot_scale_int16', 'bool', False, False)],
    'DivOptions': [('fused_activation_function', 'ActivationFunctionType', False, False)],
    'TopKV2Options': [],
    'EmbeddingLookupSparseOptions': [('combiner', 'CombinerType', False, False)],
    'GatherOptions': [('axis', 'int', False, False), ('batch_dims', 'int', False, False)],
    'TransposeOptions': [],
    'ExpOptions': [],
    'CosOptions': [],
    'ReducerOptions': [('keep_dims', 'bool', False, False)],
    'SqueezeOptions': [('squeeze_dims', 'int', True, False)],
    'SplitOptions': [('num_splits', 'int', False, False)],
    'SplitVOptions': [('num_splits', 'int', False, False)],
    'StridedSliceOptions': [('begin_mask', 'int', False, False), ('end_mask', 'int', False, False), ('ellipsis_mask', 'int', False, False), ('new_axis_mask', 'int', False, False), ('shrink_axis_mask', 'int', False, False), ('offset', 'bool', False, False)],
    'LogSoftmaxOptions': [],
    'CastOptions': [('in_data_type', 'TensorType', False, False), ('out_data_type', 'TensorType', False, False)],
    'DequantizeOptions': [],
    'MaximumMinimumOptions': [],
    'TileOptions': [],
    'ArgMaxOptions': [('output_type', 'TensorType', False, False)],
    'ArgMinOptions': [('output_type', 'TensorType', False, False)],
    'GreaterOptions': [],
    'GreaterEqualOptions': [],
    'LessOptions': [],
    'LessEqualOptions': [],
    'NegOptions': [],
    'SelectOptions': [],
    'SliceOptions': [],
    'TransposeConvOptions': [('padding', 'Padding', False, False), ('stride_w', 'int', False, False), ('stride_h', 'int', False, False), ('fused_activation_function', 'ActivationFunctionType', False, False), ('quantized_bias_type', 'TensorType', False, False)],
    'ExpandDimsOptions': [],
    'SparseToDenseOptions': [('validate_indices', 'bool', False, False)],
    'EqualOptions': [],
    'NotEqualOptions': [],
    'ShapeOptions': [('out_type', 'TensorType', False, False)],
    'RankOptions': [],
    'PowOptions': [],
    'FakeQuantOptions': [('min', 'float', False, False), ('max', 'float', False, False), ('num_bits', 'int', False, False), ('narrow_range', 'bool', False, False)],
    'PackOptions': [('values_count', 'int', False, False), ('axis', 'int', False, False)],
    'LogicalOrOptions': [],
    'OneHotOptions': [('axis', 'int', False, False)],
    'AbsOptions': [],
    'HardSwishOptions': [],
    'LogicalAndOptions': [],
    'LogicalNotOptions': [],
    'UnpackOptions': [('num', 'int', False, False), ('axis', 'int', False, False)],
    'FloorDivOptions': [],
    'SquareOptions': [],
    'ZerosLikeOptions': [],
    'FillOptions': [],
    'FloorModOptions': [],
    'RangeOptions': [],
    'LeakyReluOptions': [('alpha', 'float', False, False)],
    'SquaredDifferenceOptions': [],
    'MirrorPadOptions': [('mode', 'MirrorPadMode', False, False)],
    'UniqueOptions': [('idx_out_type', 'TensorType', False, False)],
    'ReverseV2Options': [],
    'AddNOptions': [],
    'GatherNdOptions': [],
    'WhereOptions': [],
    'ReverseSequenceOptions': [('seq_dim', 'int', False, False), ('batch_dim', 'int', False, False)],
    'MatrixDiagOptions': [],
    'QuantizeOptions': [],
    'MatrixSetDiagOptions': [],
    'IfOptions': [('then_subgraph_index', 'int', False, False), ('else_subgraph_index', 'int', False, False)],
    'CallOnceOptions': [('init_subgraph_index', 'int', False, False)],
    'WhileOptions': [('cond_subgraph_index', 'int', False, False), ('body_subgraph_index', 'int', False, False)],
    'NonMaxSuppressionV4Options': [],
    'NonMaxSuppressionV5Options': [],
    'ScatterNdOptions': [],
    'SelectV2Options': [],
    'DensifyOptions': [],
    'SegmentSumOptions': [],
    'BatchMatMulOptions': [('adj_x', 'bool', False, False), ('adj_y', 'bool', False, False), ('asymmetric_quantize_inputs', 'bool', False, False)],
    'CumsumOptions': [('exclusive', 'bool', False, False), ('reverse', 'bool', False, False)],
    'BroadcastToOptions': [],
    'Rfft2dOptions': [],
    'HashtableOptions': [('table_id', 'int', False, False), ('key_dtype', 'TensorType', False, False), ('value_dtype', 'TensorType', False, False)],
    'HashtableFindOptions': [],
    'HashtableImportOptions': [],
    'HashtableSizeOptions': [],
    'VarHandleOptions': [('container', 'string', False, False), ('shared_name', 'string', False, False)],
    'ReadVariableOptions': [],
    'AssignVariableOptions': [],
    'RandomOptions': [('seed', 'long', False, False), ('seed2', 'long', False, False)],
    'BucketizeOptions': [('boundaries', 'float', True, False)],
    'GeluOptions': [('approximate', 'bool', False, False)],
    'DynamicUpdateSliceOptions': [],
    'UnsortedSegmentProdOptions': [],
    'UnsortedSegmentMaxOptions': [],
    'UnsortedSegmentSumOptions': [],
    'ATan2Options': [],
    'UnsortedSegmentMinOptions': [],
    'SignOptions': [],
    'BitcastOptions': [],
    'BitwiseXorOptions': [],
    'RightShiftOptions': [],
    'DilateOptions': [],
    'ReduceWindowOptions': [('reduce_function', 'ReduceWindowFunction', False, False)],
    'OperatorCode': [('deprecated_builtin_code', 'byte', False, False), ('custom_code', 'string', False, False), ('version', 'int', False, False), ('builtin_code', 'BuiltinOperator', False, False)],
    'StableHLOCompositeOptions': [('name', 'string', False, False), ('decomposition_subgraph_index', 'int32', False, False), ('composite_attributes', 'ubyte', True, False), ('composite_attributes_format', 'CustomOptionsFormat', False, False), ('version', 'int32', False, False)],
    'StablehloShiftLeftOptions': [],
    'Operator': [('opcode_index', 'uint', False, False), ('inputs', 'int', True, False), ('outputs', 'int', True, False), ('builtin_options', 'BuiltinOptions', False, False), ('custom_options', 'ubyte', True, False), ('custom_options_format', 'CustomOptionsFormat', False, False), ('mutating_variable_inputs', 'bool', True, False), ('intermediates', 'int', True, False), ('large_custom_options_offset', 'ulong', False, False), ('large_custom_options_size', 'ulong', False, False), ('builtin_options_2', 'BuiltinOptions2', False, False), ('debug_metadata_index', 'int', False, False)],
    'SubGraph': [('tensors', 'Tensor', True, False), ('inputs', 'int', True, False), ('outputs', 'int', True, False), ('operators', 'Operator', True, False), ('name', 'string', False, False), ('debug_metadata_index', 'int', False, False)],
    'Buffer': [('data', 'ubyte', True, False), ('offset', 'ulong', False, False), ('size', 'ulong', False, False)],
    'ExternalBufferGroup': [('name', 'string', False, False)],
    'ExternalBuffer': [('id', 'uint', False, False), ('group', 'uint', False, False), ('offset', 'ulong', False, False), ('length', 'ulong', False, False), ('packing', 'string', False, False)],
    'Metadata': [('name', 'string', False, False), ('buffer', 'uint', False, False)],
    'TensorMap': [('name', 'string', False, False), ('tensor_index', 'uint', False, False)],
    'SignatureDef': [('inputs', 'TensorMap', True, False), ('outputs', 'TensorMap', True, False), ('signature_key', 'string', False, False), ('deprecated_tag', 'string', False, True), ('subgraph_index', 'uint', False, False)],
    'Model': [('version', 'uint', False, False), ('operator_codes', 'OperatorCode', True, False), ('subgraphs', 'SubGraph', True, False), ('description', 'string', False, False), ('buffers', 'Buffer', True, False), ('metadata_buffer', 'int', True, False), ('metadata', 'Metadata', True, False), ('signature_defs', 'SignatureDef', True, False), ('external_buffer_groups', 'ExternalBufferGroup', True, False), ('external_buffers', 'ExternalBuffer', True, False)],
}

DEFAULTS = {
    'ATan2Options': {},
    'AbsOptions': {},
    'AddNOptions': {},
    'AddOptions': {'fusedActivationFunction': 0, 'potScaleInt16': True},
    'ArgMaxOptions': {'outputType': 0},
    'ArgMinOptions': {'outputType': 0},
    'AssignVariableOptions': {},
    'BatchMatMulOptions': {'adjX': False, 'adjY': False, 'asymmetricQuantizeInputs': False},
    'BatchToSpaceNDOptions': {},
    'BidirectionalSequenceLSTMOptions': {'fusedActivationFunction': 0, 'cellClip': 0.0, 'projClip': 0.0, 'mergeOutputs': False, 'timeMajor': True, 'asymmetricQuantizeInputs': False},
    'BidirectionalSequenceRNNOptions': {'timeMajor': False, 'fusedActivationFunction': 0, 'mergeOutputs': False, 'asymmetricQuantizeInputs': False},
    'BitcastOptions': {},
    'BitwiseXorOptions': {},
    'BlockwiseQuantization': {'scales': 0, 'zeroPoints': 0, 'blockSize': 0, 'blockShape': None},
    'BroadcastToOptions': {},
    'BucketizeOptions': {'boundaries': None},
    'Buffer': {'data': None, 'offset': 0, 'size': 0},
    'CallOnceOptions': {'initSubgraphIndex': 0},
    'CallOptions': {'subgraph': 0},
    'CastOptions': {'inDataType': 0, 'outDataType': 0},
    'ConcatEmbeddingsOptions': {'numChannels': 0, 'numColumnsPerChannel': None, 'embeddingDimPerChannel': None},
    'ConcatenationOptions': {'axis': 0, 'fusedActivationFunction': 0},
    'Conv2DOptions': {'padding': 0, 'strideW': 0, 'strideH': 0, 'fusedActivationFunction': 0, 'dilationWFactor': 1, 'dilationHFactor': 1, 'quantizedBiasType': 0},
    'Conv3DOptions': {'padding': 0, 'strideD': 0, 'strideW': 0, 'strideH': 0, 'fusedActivationFunction': 0, 'dilationDFactor': 1, 'dilationWFactor': 1, 'dilationHFactor': 1},
    'CosOptions': {},
    'CumsumOptions': {'exclusive': False, 'reverse': False},
    'CustomQuantization': {'custom': None},
    'DensifyOptions': {},
    'DepthToSpaceOptions': {'blockSize': 0},
    'DepthwiseConv2DOptions': {'padding': 0, 'strideW': 0, 'strideH': 0, 'depthMultiplier': 0, 'fusedActivationFunction': 0, 'dilationWFactor': 1, 'dilationHFactor': 1},
    'DequantizeOptions': {},
    'DilateOptions': {},
    'DimensionMetadata': {'format': 0, 'denseSize': 0, 'arraySegmentsType': 0, 'arraySegments': None, 'arrayIndicesType': 0, 'arrayIndices': None},
    'DivOptions': {'fusedActivationFunction': 0},
    'DynamicUpdateSliceOptions': {},
    'EmbeddingLookupSparseOptions': {'combiner': 0},
    'EqualOptions': {},
    'ExpOptions': {},
    'ExpandDimsOptions': {},
    'ExternalBufferGroup': {'name': None},
    'ExternalBuffer': {'id': 0, 'group': 0, 'offset': 0, 'length': 0, 'packing': None},
    'FakeQuantOptions': {'min': 0.0, 'max': 0.0, 'numBits': 0, 'narrowRange': False},
    'FillOptions': {},
    'FloorDivOptions': {},
    'FloorModOptions': {},
    'FullyConnectedOptions': {'fusedActivationFunction': 0, 'weightsFormat': 0, 'keepNumDims': False, 'asymmetricQuantizeInputs': False, 'quantizedBiasType': 0, 'quantSpec': None},
    'GatherNdOptions': {},
    'GatherOptions': {'axis': 0, 'batchDims': 0},
    'GeluOptions': {'approximate': False},
    'GreaterEqualOptions': {},
    'GreaterOptions': {},
    'HardSwishOptions': {},
    'HashtableFindOptions': {},
    'HashtableImportOptions': {},
    'HashtableOptions': {'tableId': 0, 'keyDtype': 0, 'valueDtype': 0},
    'HashtableSizeOptions': {},
    'IfOptions': {'thenSubgraphIndex': 0, 'elseSubgraphIndex': 0},
    'Int32Vector': {'values': None},
    'L2NormOptions': {'fusedActivationFunction': 0},
    'LSHProjectionOptions': {'type': 0},
    'LSTMOptions': {'fusedActivationFunction': 0, 'cellClip': 0.0, 'projClip': 0.0, 'kernelType': 0, 'asymmetricQuantizeInputs': False},
    'LeakyReluOptions': {'alpha': 0.0},
    'LessEqualOptions': {},
    'LessOptions': {},
    'LocalResponseNormalizationOptions': {'radius': 0, 'bias': 0.0, 'alpha': 0.0, 'beta': 0.0},
    'LogSoftmaxOptions': {},
    'LogicalAndOptions': {},
    'LogicalNotOptions': {},
    'LogicalOrOptions': {},
    'MatrixDiagOptions': {},
    'MatrixSetDiagOptions': {},
    'MaximumMinimumOptions': {},
    'Metadata': {'name': None, 'buffer': 0},
    'MirrorPadOptions': {'mode': 0},
    'Model': {'version': 0, 'operatorCodes': None, 'subgraphs': None, 'description': None, 'buffers': None, 'metadataBuffer': None, 'metadata': None, 'signatureDefs': None, 'externalBufferGroups': None, 'externalBuffers': None},
    'MulOptions': {'fusedActivationFunction': 0},
    'MultiAxisQuantization': {'scales': 0, 'zeroPoints': 0, 'blockSize': 0, 'quantizedDimensions': None},
    'NegOptions': {},
    'NonMaxSuppressionV4Options': {},
    'NonMaxSuppressionV5Options': {},
    'NotEqualOptions': {},
    'OneHotOptions': {'axis': 0},
    'OperatorCode': {'deprecatedBuiltinCode': 0, 'customCode': None, 'version': 1, 'builtinCode': 0},
    'Operator': {'opcodeIndex': 0, 'inputs': None, 'outputs': None, 'builtinOptionsType': 0, 'builtinOptions': None, 'customOptions': None, 'customOptionsFormat': 0, 'mutatingVariableInputs': None, 'intermediates': None, 'largeCustomOptionsOffset': 0, 'largeCustomOptionsSize': 0, 'builtinOptions2Type': 0, 'builtinOptions2': None, 'debugMetadataIndex': -1},
    'PackOptions': {'valuesCount': 0, 'axis': 0},
    'PadOptions': {},
    'PadV2Options': {},
    'Pool2DOptions': {'padding': 0, 'strideW': 0, 'strideH': 0, 'filterWidth': 0, 'filterHeight': 0, 'fusedActivationFunction': 0},
    'PowOptions': {},
    'QuantizationParameters': {'min': None, 'max': None, 'scale': None, 'zeroPoint': None, 'detailsType': 0, 'details': None, 'quantizedDimension': 0},
    'QuantizeOptions': {},
    'RNNOptions': {'fusedActivationFunction': 0, 'asymmetricQuantizeInputs': False},
    'RandomOptions': {'seed': 0, 'seed2': 0},
    'RangeOptions': {},
    'RankOptions': {},
    'ReadVariableOptions': {},
    'ReduceWindowOptions': {'reduceFunction': 0},
    'ReducerOptions': {'keepDims': False},
    'ReshapeOptions': {'newShape': None},
    'ResizeBilinearOptions': {'alignCorners': False, 'halfPixelCenters': False},
    'ResizeNearestNeighborOptions': {'alignCorners': False, 'halfPixelCenters': False},
    'ReverseSequenceOptions': {'seqDim': 0, 'batchDim': 0},
    'ReverseV2Options': {},
    'Rfft2dOptions': {},
    'RightShiftOptions': {},
    'SVDFOptions': {'rank': 0, 'fusedActivationFunction': 0, 'asymmetricQuantizeInputs': False},
    'ScatterNdOptions': {},
    'SegmentSumOptions': {},
    'SelectOptions': {},
    'SelectV2Options': {},
    'SequenceRNNOptions': {'timeMajor': False, 'fusedActivationFunction': 0, 'asymmetricQuantizeInputs': False},
    'ShapeOptions': {'outType': 0},
    'SignOptions': {},
    'SignatureDef': {'inputs': None, 'outputs': None, 'signatureKey': None, 'subgraphIndex': 0},
    'SkipGramOptions': {'ngramSize': 0, 'maxSkipSize': 0, 'includeAllNgrams': False},
    'SliceOptions': {},
    'SoftmaxOptions': {'beta': 0.0},
    'SpaceToBatchNDOptions': {},
    'SpaceToDepthOptions': {'blockSize': 0},
    'SparseToDenseOptions': {'validateIndices': False},
    'SparsityParameters': {'traversalOrder': None, 'blockMap': None, 'dimMetadata': None},
    'SplitOptions': {'numSplits': 0},
    'SplitVOptions': {'numSplits': 0},
    'SquareOptions': {},
    'SquaredDifferenceOptions': {},
    'SqueezeOptions': {'squeezeDims': None},
    'StableHLOCompositeOptions': {'name': None, 'decompositionSubgraphIndex': 0, 'compositeAttributes': None, 'compositeAttributesFormat': 0, 'version': 0},
    'StablehloBroadcastInDimOptions': {'broadcastDimensions': None},
    'StablehloCaseOptions': {'branchSubgraphIndices': None},
    'StablehloCompareOptions': {'comparisonDirection': 0, 'compareType': 0},
    'StablehloConcatenateOptions': {'dimension': 0},
    'StablehloConvolutionOptions': {'windowStrides': None, 'padding': None, 'lhsDilation': None, 'rhsDilation': None, 'windowReversal': None, 'inputBatchDimension': 0, 'inputFeatureDimension': 0, 'inputSpatialDimensions': None, 'kernelInputFeatureDimension': 0, 'kernelOutputFeatureDimension': 0, 'kernelSpatialDimensions': None, 'outputBatchDimension': 0, 'outputFeatureDimension': 0, 'outputSpatialDimensions': None, 'featureGroupCount': 0, 'batchGroupCount': 0, 'precisionConfig': None},
    'StablehloCustomCallOptions': {'callTargetName': None, 'hasSideEffect': False, 'backendConfig': None, 'apiVersion': 0, 'calledComputations': None, 'customAttributes': None},
    'StablehloDotGeneralOptions': {'lhsBatchingDimensions': None, 'rhsBatchingDimensions': None, 'lhsContractingDimensions': None, 'rhsContractingDimensions': None, 'precisionConfig': None},
    'StablehloDynamicSliceOptions': {'sliceSizes': None},
    'StablehloGatherOptions': {'offsetDims': None, 'collapsedSliceDims': None, 'startIndexMap': None, 'indexVectorDim': 0, 'sliceSizes': None, 'indicesAreSorted': False},
    'StablehloIotaOptions': {'iotaDimension': 0},
    'StablehloPadOptions': {'edgePaddingLow': None, 'edgePaddingHigh': None, 'interiorPadding': None},
    'StablehloReduceOptions': {'dimensions': None, 'bodySubgraphIndex': 0},
    'StablehloReduceWindowOptions': {'windowDimensions': None, 'windowStrides': None, 'baseDilations': None, 'windowDilations': None, 'padding': None, 'bodySubgraphIndex': 0},
    'StablehloRngBitGeneratorOptions': {'algorithm': 0},
    'StablehloScatterOptions': {'indicesAreSorted': False, 'updateWindowDims': None, 'insertedWindowDims': None, 'scatterDimsToOperandDims': None, 'indexVectorDim': 0, 'uniqueIndices': False, 'updateComputationSubgraphIndex': 0},
    'StablehloShiftLeftOptions': {},
    'StablehloSliceOptions': {'startIndices': None, 'limitIndices': None, 'strides': None},
    'StablehloSortOptions': {'dimension': 0, 'isStable': False, 'comparatorSubgraphIndex': 0},
    'StablehloTransposeOptions': {'permutation': None},
    'StablehloWhileOptions': {'condSubgraphIndex': 0, 'bodySubgraphIndex': 0},
    'StridedSliceOptions': {'beginMask': 0, 'endMask': 0, 'ellipsisMask': 0, 'newAxisMask': 0, 'shrinkAxisMask': 0, 'offset': False},
    'SubGraph': {'tensors': None, 'inputs': None, 'outputs': None, 'operators': None, 'name': None, 'debugMetadataIndex': -1},
    'SubOptions': {'fusedActivationFunction': 0, 'potScaleInt16': True},
    'TensorMap': {'name': None, 'tensorIndex': 0},
    'Tensor': {'shape': None, 'type': 0, 'buffer': 0, 'name': None, 'quantization': None, 'isVariable': False, 'sparsity': None, 'shapeSignature': None, 'hasRank': False, 'variantTensors': None, 'externalBuffer': 0},
    'TileOptions': {},
    'TopKV2Options': {},
    'TransposeConvOptions': {'padding': 0, 'strideW': 0, 'strideH': 0, 'fusedActivationFunction': 0, 'quantizedBiasType': 0},
    'TransposeOptions': {},
    'Uint16Vector': {'values': None},
    'Uint8Vector': {'values': None},
    'UnidirectionalSequenceLSTMOptions': {'fusedActivationFunction': 0, 'cellClip': 0.0, 'projClip': 0.0, 'timeMajor': False, 'asymmetricQuantizeInputs': False, 'diagonalRecurrentTensors': False},
    'UniqueOptions': {'idxOutType': 2},
    'UnpackOptions': {'num': 0, 'axis': 0},
    'UnsortedSegmentMaxOptions': {},
    'UnsortedSegmentMinOptions': {},
    'UnsortedSegmentProdOptions': {},
    'UnsortedSegmentSumOptions': {},
    'VarHandleOptions': {'container': None, 'sharedName': None},
    'VariantSubType': {'shape': None, 'type': 0, 'hasRank': False},
    'WhereOptions': {},
    'WhileOptions': {'condSubgraphIndex': 0, 'bodySubgraphIndex': 0},
    'ZerosLikeOptions': {},
}
