using System.Collections.Concurrent;
using AttentionWise.Training.Models;

namespace AttentionWise.Training.Checkpoints;

/// <summary>
/// The tensors a checkpoint of a model holds: the model's parameters and buffers, and Adam's two moments of every
/// parameter ("adam.m.&lt;name&gt;", "adam.v.&lt;name&gt;"; all of them or none). A checkpoint's header is compared with
/// them before its data is read, so that a missing or unexpected tensor is named as such.
/// </summary>
internal static class CheckpointTensors
{
    /// <summary>The largest model (its parameters' bytes) built on the CPU to learn its tensors.</summary>
    private const double MaxBuildBytes = 1L << 30;

    private static readonly ConcurrentDictionary<string, Expected> Cache = new(StringComparer.Ordinal);

    /// <summary>The names and shapes of a model's parameters and buffers (learned by building the model on the CPU,
    /// once per configuration).</summary>
    public sealed record Expected(IReadOnlyDictionary<string, int[]> Parameters, IReadOnlyDictionary<string, int[]> Buffers);

    /// <summary>What <paramref name="config"/> builds, or null when the model cannot be built here (too large for the
    /// host, say): the checks of the data and of <see cref="Checkpoint.Restore"/> still apply then.</summary>
    public static Expected? Of(ModelConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        string key = config.ToJson();
        if (Cache.TryGetValue(key, out var known))
            return known;
        if (ModelRegistry.Problems(config).Count > 0)
            return null;
        // A model too large to build here is left to the checks that refuse it by size.
        var footprint = ModelFootprint.Of(config, imagesPerPass: 0, training: false);
        if (footprint.LargestTensor > ModelFootprint.MaxTensorValues || footprint.ParameterBytes > MaxBuildBytes)
            return null;
        try
        {
            using var device = ComputeDevice.Open("cpu");
            using var model = ModelRegistry.Create(device, config);
            var parameters = model.Network.NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Shape.ToArray(), StringComparer.Ordinal);
            var buffers = model.Network.NamedBuffers().ToDictionary(b => b.Name, b => b.Tensor.Shape.ToArray(), StringComparer.Ordinal);
            return Cache[key] = new Expected(parameters, buffers);
        }
        catch (Exception e) when (e is not OutOfMemoryException and not StackOverflowException)
        {
            return null;
        }
    }

    /// <summary>Throws when the header lacks a tensor the model needs ("missing tensor 'classifier.bias'"), names one the
    /// model does not have ("unexpected tensor …"). Adam's moments are optional, but all or none. Shapes are compared
    /// when the tensors are copied into the model (<see cref="Checkpoint.Restore"/>).</summary>
    public static void Require(string path, ModelConfig config, IReadOnlyList<TensorEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        if (Of(config) is not { } expected)
            return;
        var present = entries.ToDictionary(e => e.Name, e => e.Shape, StringComparer.Ordinal);
        var needed = new Dictionary<string, int[]>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected.Parameters.Concat(expected.Buffers))
            needed[name] = shape;
        bool adam = entries.Any(e => e.Name.StartsWith("adam.", StringComparison.Ordinal));
        if (adam)
        {
            foreach (var (name, shape) in expected.Parameters)
            {
                needed["adam.m." + name] = shape;
                needed["adam.v." + name] = shape;
            }
        }
        var missing = needed.Keys.Where(n => !present.ContainsKey(n)).ToList();
        if (missing.Count > 0)
        {
            throw new CheckpointException(
                $"{path}: missing tensor '{missing[0]}'{(missing.Count > 1 ? $" (and {missing.Count - 1} more: {string.Join(", ", missing.Skip(1).Take(5).Select(m => $"'{m}'"))}{(missing.Count > 6 ? ", …" : "")})" : "")}: the model {config} needs it{(adam && missing[0].StartsWith("adam.", StringComparison.Ordinal) ? " (the checkpoint holds Adam's moments of other parameters)" : "")}.");
        }
        var unexpected = entries.Select(e => e.Name).Where(n => !needed.ContainsKey(n)).ToList();
        if (unexpected.Count > 0)
        {
            throw new CheckpointException(
                $"{path}: unexpected tensor '{unexpected[0]}'{(unexpected.Count > 1 ? $" (and {unexpected.Count - 1} more)" : "")}: the model {config} has no tensor of that name.");
        }
    }
}
