using System.Globalization;
using AttentionWise.Layers;

namespace AttentionWise.Training.Checkpoints;

/// <summary>What <see cref="Checkpoint.LoadModule"/> read besides the tensors.</summary>
/// <param name="Epoch">The epoch the file was written after.</param>
/// <param name="AdamStep">The optimiser's step count when it was written (0 without an optimiser).</param>
/// <param name="HasOptimizerState">Whether the file holds the optimiser's moments ("adam.m.…", "adam.v.…").</param>
public sealed record ModuleCheckpointInfo(int Epoch, long AdamStep, bool HasOptimizerState);

public static partial class Checkpoint
{
    /// <summary>
    /// Loads a file written by <see cref="SaveModule"/> (or a training checkpoint, <see cref="Format"/>) into a module
    /// built with the same layers: every parameter and buffer by its dotted name, and with <paramref name="adam"/> the
    /// optimiser's moments and step count too. The header is compared with the module before any data is read: a
    /// tensor the module needs and the file lacks is named ("missing tensor 'classifier.bias'"), and so is one the file
    /// holds and the module does not have ("unexpected tensor …"); a shape that differs, or a value that is not finite,
    /// is an error naming the tensor. Nothing is copied into the module unless every check passes. Parameter gradients
    /// are zeroed.
    /// </summary>
    /// <param name="path">The safetensors file.</param>
    /// <param name="network">The module to fill (its parameters and buffers are overwritten).</param>
    /// <param name="adam">The optimiser to restore, or null to ignore any optimiser state in the file.</param>
    /// <exception cref="CheckpointException">The file is missing, malformed, or does not fit the module.</exception>
    public static ModuleCheckpointInfo LoadModule(string path, Module network, Adam? adam = null)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(network);
        var targets = new Dictionary<string, DeviceTensor>(StringComparer.Ordinal);
        foreach (var (name, p) in network.NamedParameters())
            targets[name] = p.Value;
        foreach (var (name, b) in network.NamedBuffers())
            targets[name] = b;
        if (adam is not null)
        {
            foreach (var (name, m, v) in adam.State)
            {
                targets["adam.m." + name] = m;
                targets["adam.v." + name] = v;
            }
        }

        bool hasAdam = false;
        void Expect(IReadOnlyList<TensorEntry> entries, IReadOnlyDictionary<string, string> metadata)
        {
            if (!metadata.TryGetValue("format", out var format))
                throw new CheckpointException($"{path}: the metadata has no 'format' entry: not a file written by {nameof(Checkpoint)}.{nameof(SaveModule)} or aw train.");
            if (format != ModuleFormat && format != Format)
                throw new CheckpointException($"{path}: format '{format}', expected '{ModuleFormat}' (or '{Format}').");
            hasAdam = entries.Any(e => IsAdam(e.Name));
            var present = entries.Select(e => e.Name).ToHashSet(StringComparer.Ordinal);
            var missing = targets.Keys.Where(n => !present.Contains(n)).ToList();
            if (missing.Count > 0)
            {
                string adamNote = IsAdam(missing[0]) ? " (pass no optimiser to load the weights alone)" : "";
                throw new CheckpointException(
                    $"{path}: missing tensor '{missing[0]}'{More(missing)}: the module needs it but the file has none of that name{adamNote}.");
            }
            // Optimiser state is skipped when no optimiser is given; anything else the module lacks is an error.
            var unexpected = entries.Select(e => e.Name).Where(n => !targets.ContainsKey(n) && !(adam is null && IsAdam(n))).ToList();
            if (unexpected.Count > 0)
            {
                throw new CheckpointException(
                    $"{path}: unexpected tensor '{unexpected[0]}'{More(unexpected)}: the module has no tensor of that name (was the file written by another model?).");
            }
            foreach (var e in entries)
            {
                if (targets.TryGetValue(e.Name, out var target) && !e.Shape.SequenceEqual(target.Shape.ToArray()))
                    throw new CheckpointException($"{path}: tensor '{e.Name}' has shape [{string.Join(", ", e.Shape)}] but the module needs {target.Shape}.");
            }
        }

        var (tensors, metadata) = SafeTensors.Read(path, Expect);
        int epoch = metadata.TryGetValue("epoch", out var epochText) && int.TryParse(epochText, NumberStyles.None, CultureInfo.InvariantCulture, out int e1) ? e1 : 0;
        long step = metadata.TryGetValue("adam_step", out var stepText) && long.TryParse(stepText, NumberStyles.None, CultureInfo.InvariantCulture, out long s1) ? s1 : 0;
        foreach (var t in tensors)
        {
            if (!targets.ContainsKey(t.Name))
                continue;
            int bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
            if (bad >= 0)
                throw new CheckpointException(FormattableString.Invariant($"{path}: tensor '{t.Name}' holds a non-finite value ({t.Data[bad]}) at index {bad}."));
        }
        foreach (var t in tensors)
        {
            if (targets.TryGetValue(t.Name, out var target))
                target.Upload(t.Data);
        }
        foreach (var (_, p) in network.NamedParameters())
            p.ZeroGrad();
        if (adam is not null)
            adam.StepCount = step;
        return new ModuleCheckpointInfo(epoch, step, hasAdam);
    }

    private static bool IsAdam(string name) => name.StartsWith("adam.", StringComparison.Ordinal);

    private static string More(IReadOnlyList<string> names) => names.Count switch
    {
        1 => "",
        _ => $" (and {names.Count - 1} more: {string.Join(", ", names.Skip(1).Take(5).Select(n => $"'{n}'"))}{(names.Count > 6 ? ", …" : "")})",
    };
}
