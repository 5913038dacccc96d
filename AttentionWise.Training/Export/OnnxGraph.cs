using System.Globalization;
using AttentionWise.Training.Export.Onnx;
using Google.Protobuf;

namespace AttentionWise.Training.Export;

/// <summary>
/// Builds one ONNX graph: nodes in the order they run, float and int64 initializers, and value names that are
/// unique (every value is written once, as ONNX requires). Used by <see cref="OnnxExporter"/>.
/// </summary>
internal sealed class OnnxGraph
{
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _nodes;

    public GraphProto Proto { get; } = new();

    /// <summary>A name not used yet: <paramref name="stem"/> itself, or the stem with a numeric suffix.</summary>
    public string Fresh(string stem)
    {
        string name = stem;
        for (int i = 1; !_names.Add(name); i++)
            name = string.Create(CultureInfo.InvariantCulture, $"{stem}_{i}");
        return name;
    }

    /// <summary>A float32 initializer of the given dims (row-major values).</summary>
    public string Floats(string name, ReadOnlySpan<float> values, params long[] dims)
    {
        long count = dims.Aggregate(1L, (a, d) => a * d);
        if (count != values.Length)
            throw new ArgumentException(string.Create(CultureInfo.InvariantCulture, $"Initializer {name}: {values.Length} values for dims [{string.Join(", ", dims)}]."));
        var t = new TensorProto { Name = Fresh(name), DataType = (int)TensorProto.Types.DataType.Float };
        t.Dims.AddRange(dims);
        // raw_data is little-endian, as ONNX specifies.
        var bytes = new byte[values.Length * sizeof(float)];
        for (int i = 0; i < values.Length; i++)
            System.Buffers.Binary.BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * sizeof(float)), values[i]);
        t.RawData = ByteString.CopyFrom(bytes);
        Proto.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>A float32 initializer holding <paramref name="count"/> copies of <paramref name="value"/>.</summary>
    public string Fill(string name, float value, int count)
    {
        var v = new float[count];
        Array.Fill(v, value);
        return Floats(name, v, count);
    }

    /// <summary>A one-dimensional int64 initializer (shapes, split sizes).</summary>
    public string Int64s(string name, params long[] values)
    {
        var t = new TensorProto { Name = Fresh(name), DataType = (int)TensorProto.Types.DataType.Int64 };
        t.Dims.Add(values.Length);
        t.Int64Data.AddRange(values);
        Proto.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>Adds a node with one output and returns the output's name.</summary>
    public string Node(string op, string output, string[] inputs, params AttributeProto[] attributes) =>
        NodeN(op, [output], inputs, attributes)[0];

    /// <summary>Adds a node with several outputs and returns their names.</summary>
    public string[] NodeN(string op, string[] outputs, string[] inputs, params AttributeProto[] attributes)
    {
        var node = new NodeProto { OpType = op, Name = string.Create(CultureInfo.InvariantCulture, $"{op}_{_nodes++}") };
        node.Input.AddRange(inputs);
        var names = outputs.Select(Fresh).ToArray();
        node.Output.AddRange(names);
        node.Attribute.AddRange(attributes);
        Proto.Node.Add(node);
        return names;
    }

    /// <summary>A graph input or output of float32 with the given dims (null: the symbolic batch dimension "N").</summary>
    public static ValueInfoProto Value(string name, params long?[] dims)
    {
        var shape = new TensorShapeProto();
        foreach (var d in dims)
            shape.Dim.Add(d is long v ? new TensorShapeProto.Types.Dimension { DimValue = v } : new TensorShapeProto.Types.Dimension { DimParam = "N" });
        return new ValueInfoProto
        {
            Name = name,
            Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = (int)TensorProto.Types.DataType.Float, Shape = shape } },
        };
    }

    public static AttributeProto Int(string name, long value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value };

    public static AttributeProto Float(string name, float value) =>
        new() { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value };

    public static AttributeProto Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return a;
    }
}
