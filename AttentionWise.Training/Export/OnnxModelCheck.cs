using System.Globalization;
using AttentionWise.Training.Export.Onnx;

namespace AttentionWise.Training.Export;

/// <summary>
/// Structural checks of an ONNX model, independent of any runtime: an IR version and one default-domain operator set in
/// the exporter's range; named, typed graph inputs and outputs; initializers whose data fills their dims; every value
/// written once; every node's inputs defined before the node (a graph input, an initializer or an earlier node's output);
/// every graph output written by a node. ONNX Runtime's load adds its own checks and shape inference.
/// </summary>
internal static class OnnxModelCheck
{
    /// <summary>What is wrong with <paramref name="model"/>; empty when nothing is.</summary>
    public static IReadOnlyList<string> Problems(ModelProto model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var p = new List<string>();
        string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        if (model.IrVersion < 1)
            p.Add("no IR version");
        var defaults = model.OpsetImport.Where(o => o.Domain.Length == 0 || o.Domain == "ai.onnx").ToList();
        if (defaults.Count != 1)
            p.Add(I($"{defaults.Count} imports of the default operator set (one is needed)"));
        else if (defaults[0].Version is < OnnxExporter.MinOpset or > OnnxExporter.MaxOpset)
            p.Add(I($"operator set {defaults[0].Version} is outside {OnnxExporter.MinOpset} to {OnnxExporter.MaxOpset}"));
        if (model.OpsetImport.Count != defaults.Count)
            p.Add("operators of another domain are imported");
        var graph = model.Graph;
        if (graph is null)
        {
            p.Add("no graph");
            return p;
        }
        var defined = new HashSet<string>(StringComparer.Ordinal);
        void Define(string name, string what)
        {
            if (name.Length == 0)
                p.Add($"{what} has no name");
            else if (!defined.Add(name))
                p.Add($"{what} '{name}' writes a value that is already defined");
        }
        foreach (var v in graph.Input)
        {
            if (v.Type?.TensorType is not { Shape: not null })
                p.Add($"graph input '{v.Name}' has no tensor type with a shape");
            Define(v.Name, "graph input");
        }
        foreach (var t in graph.Initializer)
        {
            Define(t.Name, "initializer");
            long count = t.Dims.Aggregate(1L, (a, d) => a * d);
            long have = t.DataType switch
            {
                (int)TensorProto.Types.DataType.Float => t.RawData.Length > 0 ? t.RawData.Length / 4 : t.FloatData.Count,
                (int)TensorProto.Types.DataType.Int64 => t.RawData.Length > 0 ? t.RawData.Length / 8 : t.Int64Data.Count,
                _ => -1,
            };
            if (have < 0)
                p.Add(I($"initializer '{t.Name}' has data type {t.DataType}, not float or int64"));
            else if (have != count)
                p.Add(I($"initializer '{t.Name}' holds {have} values for dims [{string.Join(", ", t.Dims)}] ({count})"));
        }
        foreach (var node in graph.Node)
        {
            if (node.OpType.Length == 0)
                p.Add($"node '{node.Name}' has no operator");
            if (node.Domain.Length > 0 && node.Domain != "ai.onnx")
                p.Add($"node '{node.Name}' uses domain '{node.Domain}'");
            foreach (var input in node.Input)
            {
                // An empty name is an optional input left out.
                if (input.Length > 0 && !defined.Contains(input))
                    p.Add($"node '{node.Name}' ({node.OpType}) reads '{input}', which nothing defined before it");
            }
            if (node.Output.Count == 0)
                p.Add($"node '{node.Name}' ({node.OpType}) has no output");
            foreach (var output in node.Output)
                Define(output, $"node '{node.Name}' ({node.OpType}) output");
        }
        if (graph.Output.Count == 0)
            p.Add("the graph has no output");
        foreach (var v in graph.Output)
        {
            if (v.Type?.TensorType is not { Shape: not null })
                p.Add($"graph output '{v.Name}' has no tensor type with a shape");
            if (!graph.Node.Any(n => n.Output.Contains(v.Name)))
                p.Add($"graph output '{v.Name}' is written by no node");
        }
        return p;
    }
}
