using System.Globalization;
using System.Text.Json;
using AttentionWise.Layers;
using AttentionWise.Training.Models;
using AttentionWise.Training.Training;

namespace AttentionWise.Training.Checkpoints;

/// <summary>What a checkpoint says besides its tensors.</summary>
/// <param name="Model">The model's registry name and options.</param>
/// <param name="Settings">The run's training settings.</param>
/// <param name="Epoch">Epochs completed.</param>
/// <param name="AdamStep">Adam's step count (its bias corrections depend on it).</param>
/// <param name="ShuffleRngState">State of the generator that shuffles the training set.</param>
public sealed record CheckpointInfo(ModelConfig Model, RunSettings Settings, int Epoch, long AdamStep, ulong ShuffleRngState)
{
    public ulong Seed => Settings.Seed;
}

/// <summary>
/// Training checkpoints in the safetensors format: the model's parameters and buffers under their dotted
/// names, Adam's moments as "adam.m.&lt;name&gt;" and "adam.v.&lt;name&gt;", and metadata (model name and options,
/// epoch, Adam step, RNG state, seed, training settings). Written atomically.
/// </summary>
public static class Checkpoint
{
    public const string FileName = "checkpoint.safetensors";
    public const string Format = "attentionwise-checkpoint/1";

    public static void Save(string path, ITrainableModel model, Adam? adam, CheckpointInfo info)
    {
        var tensors = new List<NamedTensor>();
        foreach (var (name, p) in model.Network.NamedParameters())
            tensors.Add(new NamedTensor(name, p.Shape.ToArray(), p.Value.Download()));
        foreach (var (name, t) in model.Network.NamedBuffers())
            tensors.Add(new NamedTensor(name, t.Shape.ToArray(), t.Download()));
        if (adam is not null)
        {
            foreach (var (name, m, v) in adam.State)
            {
                tensors.Add(new NamedTensor("adam.m." + name, m.Shape.ToArray(), m.Download()));
                tensors.Add(new NamedTensor("adam.v." + name, v.Shape.ToArray(), v.Download()));
            }
        }
        var metadata = new Dictionary<string, string>
        {
            ["format"] = Format,
            ["model"] = info.Model.Name,
            ["model_config"] = info.Model.ToJson(),
            ["epoch"] = info.Epoch.ToString(CultureInfo.InvariantCulture),
            ["adam_step"] = info.AdamStep.ToString(CultureInfo.InvariantCulture),
            ["rng_state"] = info.ShuffleRngState.ToString(CultureInfo.InvariantCulture),
            ["seed"] = info.Seed.ToString(CultureInfo.InvariantCulture),
            ["training"] = info.Settings.ToJson(),
            ["aw_version"] = RunInfo.Version,
        };
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Reads a checkpoint's tensors and metadata.</summary>
    public static (CheckpointInfo Info, IReadOnlyDictionary<string, NamedTensor> Tensors) Load(string path)
    {
        var (tensors, metadata) = SafeTensors.Read(path);
        string Get(string key) => metadata.TryGetValue(key, out var v)
            ? v
            : throw new CheckpointException($"{path}: the checkpoint metadata has no '{key}' entry (not written by aw train?).");
        if (Get("format") != Format)
            throw new CheckpointException($"{path}: checkpoint format '{Get("format")}', expected '{Format}'.");
        try
        {
            var info = new CheckpointInfo(
                ModelConfig.FromJson(Get("model_config")),
                RunSettings.FromJson(Get("training")),
                int.Parse(Get("epoch"), CultureInfo.InvariantCulture),
                long.Parse(Get("adam_step"), CultureInfo.InvariantCulture),
                ulong.Parse(Get("rng_state"), CultureInfo.InvariantCulture));
            return (info, tensors.ToDictionary(t => t.Name, StringComparer.Ordinal));
        }
        catch (Exception e) when (e is FormatException or OverflowException or JsonException)
        {
            throw new CheckpointException($"{path}: the checkpoint metadata is malformed ({e.Message}).", e);
        }
    }

    /// <summary>Copies the checkpoint's parameters and buffers (and, with <paramref name="adam"/>, its moments)
    /// into a model built from the same configuration.</summary>
    public static void Restore(string path, IReadOnlyDictionary<string, NamedTensor> tensors, ITrainableModel model, Adam? adam, long adamStep)
    {
        void Put(string name, DeviceTensor target)
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new CheckpointException($"{path}: the checkpoint has no tensor '{name}' that the model {model.Config.Name} needs.");
            if (!t.Shape.SequenceEqual(target.Shape.ToArray()))
                throw new CheckpointException($"{path}: tensor '{name}' has shape [{string.Join(", ", t.Shape)}] but the model needs {target.Shape}.");
            target.Upload(t.Data);
        }
        foreach (var (name, p) in model.Network.NamedParameters())
        {
            Put(name, p.Value);
            p.ZeroGrad();
        }
        foreach (var (name, b) in model.Network.NamedBuffers())
            Put(name, b);
        if (adam is null)
            return;
        foreach (var (name, m, v) in adam.State)
        {
            Put("adam.m." + name, m);
            Put("adam.v." + name, v);
        }
        adam.StepCount = adamStep;
    }
}
