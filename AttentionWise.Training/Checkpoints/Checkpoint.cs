using System.Globalization;
using System.Text.Json;
using AttentionWise.Layers;
using AttentionWise.Training.Models;

namespace AttentionWise.Training.Checkpoints;

/// <summary>What a checkpoint says besides its tensors.</summary>
/// <param name="Model">The model's registry name and options.</param>
/// <param name="Settings">The run's training settings.</param>
/// <param name="Epoch">Epochs completed.</param>
/// <param name="AdamStep">Adam's step count (its bias corrections depend on it).</param>
/// <param name="ShuffleRngState">State of the generator that shuffles the training set, as it was before the shuffle of
/// epoch <paramref name="Epoch"/> + 1 (the epoch that follows, or the one <paramref name="Partial"/> is inside).</param>
/// <param name="Partial">For a checkpoint written inside an epoch (a training stopped by a signal): how far epoch
/// <paramref name="Epoch"/> + 1 got; null for a checkpoint written at the end of an epoch.</param>
public sealed record CheckpointInfo(ModelConfig Model, RunSettings Settings, int Epoch, long AdamStep, ulong ShuffleRngState, EpochProgress? Partial = null)
{
    public ulong Seed => Settings.Seed;

    /// <summary>Training steps done of the epoch after <see cref="Epoch"/> (0 at the end of an epoch).</summary>
    public int Step => Partial?.Step ?? 0;

    /// <summary>"epoch 3" or "epoch 3 + 17 steps".</summary>
    public string Position => Partial is { } p
        ? FormattableString.Invariant($"epoch {Epoch} + {p.Step} step(s) of epoch {Epoch + 1}")
        : FormattableString.Invariant($"epoch {Epoch}");
}

/// <summary>Where a training stopped inside an epoch, with what the epoch's row needs from its first steps.</summary>
/// <param name="Step">Steps of the epoch done (at least 1, fewer than the epoch's steps).</param>
/// <param name="LossSum">Sum of those steps' losses.</param>
/// <param name="Correct">Training images predicted correctly in those steps.</param>
/// <param name="GradMean">The last step's first-layer gradient mean.</param>
/// <param name="Seconds">Training seconds spent on those steps.</param>
public sealed record EpochProgress(int Step, double LossSum, long Correct, float GradMean, double Seconds);

/// <summary>
/// Training checkpoints in the safetensors format: the model's parameters and buffers under their dotted
/// names, Adam's moments as "adam.m.&lt;name&gt;" and "adam.v.&lt;name&gt;", and metadata (model name and options,
/// epoch, Adam step, RNG state, seed, training settings; inside an epoch also the step and the epoch's sums so far).
/// Written atomically.
/// </summary>
public static partial class Checkpoint
{
    public const string FileName = "checkpoint.safetensors";
    public const string Format = "attentionwise-checkpoint/1";

    /// <summary>The format of <see cref="SaveModule"/>'s files: any module's tensors, without a registry model.</summary>
    public const string ModuleFormat = "attentionwise-module/1";

    public static void Save(string path, ITrainableModel model, Adam? adam, CheckpointInfo info)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(info);
        var tensors = Tensors(model.Network, adam);
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
        if (info.Partial is { } progress)
        {
            metadata["epoch_step"] = progress.Step.ToString(CultureInfo.InvariantCulture);
            metadata["epoch_loss_sum"] = progress.LossSum.ToString("R", CultureInfo.InvariantCulture);
            metadata["epoch_correct"] = progress.Correct.ToString(CultureInfo.InvariantCulture);
            metadata["epoch_grad_mean"] = progress.GradMean.ToString("R", CultureInfo.InvariantCulture);
            metadata["epoch_seconds"] = progress.Seconds.ToString("R", CultureInfo.InvariantCulture);
        }
        SafeTensors.Write(path, tensors, metadata);
    }

    /// <summary>Writes any module's parameters and buffers by their names (and, with <paramref name="adam"/>, its
    /// moments as "adam.m.&lt;name&gt;" and "adam.v.&lt;name&gt;") to a safetensors file, atomically; the metadata
    /// holds the format (<see cref="ModuleFormat"/>), the epoch and the optimiser's step count.</summary>
    public static void SaveModule(string path, Module network, Adam? adam, int epoch)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(network);
        var metadata = new Dictionary<string, string>
        {
            ["format"] = ModuleFormat,
            ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
            ["adam_step"] = (adam?.StepCount ?? 0).ToString(CultureInfo.InvariantCulture),
            ["aw_version"] = RunInfo.Version,
        };
        SafeTensors.Write(path, Tensors(network, adam), metadata);
    }

    private static List<NamedTensor> Tensors(Module network, Adam? adam)
    {
        var tensors = new List<NamedTensor>();
        foreach (var (name, p) in network.NamedParameters())
            tensors.Add(new NamedTensor(name, p.Shape.ToArray(), p.Value.Download()));
        foreach (var (name, t) in network.NamedBuffers())
            tensors.Add(new NamedTensor(name, t.Shape.ToArray(), t.Download()));
        if (adam is not null)
        {
            foreach (var (name, m, v) in adam.State)
            {
                tensors.Add(new NamedTensor("adam.m." + name, m.Shape.ToArray(), m.Download()));
                tensors.Add(new NamedTensor("adam.v." + name, v.Shape.ToArray(), v.Download()));
            }
        }
        return tensors;
    }

    /// <summary>Reads a checkpoint's tensors and metadata, checking the file (see <see cref="SafeTensors.Read"/>), the
    /// metadata (<see cref="ReadInfo"/>) and that every value is finite.</summary>
    /// <exception cref="CheckpointException">Anything is missing, malformed, out of range or not finite.</exception>
    public static (CheckpointInfo Info, IReadOnlyDictionary<string, NamedTensor> Tensors) Load(string path)
    {
        var (tensors, metadata) = SafeTensors.Read(path, (entries, meta) => CheckpointTensors.Require(path, Parse(path, meta).Model, entries));
        var info = Parse(path, metadata);
        foreach (var t in tensors)
        {
            int bad = Array.FindIndex(t.Data, v => !float.IsFinite(v));
            if (bad >= 0)
            {
                throw new CheckpointException(FormattableString.Invariant(
                    $"{path}: tensor '{t.Name}' holds a non-finite value ({t.Data[bad]}) at index {bad}: the weights cannot be used (the run diverged before this checkpoint was written, or the file is damaged)."));
            }
        }
        return (info, tensors.ToDictionary(t => t.Name, StringComparer.Ordinal));
    }

    /// <summary>Reads and checks a checkpoint's header and metadata without reading its tensors: the format, the model
    /// (a known name and a configuration the registry can build), the training settings (a known dataset, values in
    /// range), 0 ≤ epoch ≤ the run's epochs, an Adam step count of at least one per epoch, the generator state, and the
    /// seed agreeing with the settings.</summary>
    public static CheckpointInfo ReadInfo(string path) => Parse(path, SafeTensors.ReadHeader(path).Metadata);

    private static CheckpointInfo Parse(string path, IReadOnlyDictionary<string, string> metadata)
    {
        string Get(string key) => metadata.TryGetValue(key, out var v)
            ? v
            : throw new CheckpointException($"{path}: the checkpoint metadata has no '{key}' entry (not written by aw train?).");
        if (Get("format") != Format)
            throw new CheckpointException($"{path}: checkpoint format '{Get("format")}', expected '{Format}'.");
        ModelConfig model;
        RunSettings settings;
        try
        {
            model = ModelConfig.FromJson(Get("model_config"));
            settings = RunSettings.FromJson(Get("training"));
        }
        catch (Exception e) when (e is JsonException or NotSupportedException or InvalidOperationException or ArgumentException)
        {
            throw new CheckpointException($"{path}: the checkpoint metadata is malformed ({e.Message}).", e);
        }
        var problems = ModelRegistry.Problems(model).ToList();
        if (Get("model") != model.Name)
            problems.Add($"'model' says {Get("model")} but 'model_config' describes {model.Name}");
        problems.AddRange(settings.Problems().Select(p => p.ToString().TrimEnd('.')));
        if (ModelRegistry.IsKnown(model.Name) && !ModelRegistry.BatchIndependent(model.Name) && settings.MicroBatch is int m && m < settings.BatchSize)
            problems.Add(FormattableString.Invariant($"micro-batch {m} splits a batch of {settings.BatchSize}, which {model.Name} (batchnorm) cannot train"));
        int epoch = Number(path, "epoch", Get("epoch"), int.Parse);
        long adamStep = Number(path, "adam_step", Get("adam_step"), long.Parse);
        ulong rng = Number(path, "rng_state", Get("rng_state"), ulong.Parse);
        ulong seed = Number(path, "seed", Get("seed"), ulong.Parse);
        if (epoch < 0)
            problems.Add(FormattableString.Invariant($"epoch {epoch} is negative"));
        else if (epoch > settings.Epochs)
            problems.Add(FormattableString.Invariant($"epoch {epoch} is beyond the run's {settings.Epochs} epochs"));
        if (adamStep < 0)
            problems.Add(FormattableString.Invariant($"Adam step {adamStep} is negative"));
        else if (epoch >= 0 && (adamStep < epoch || (epoch == 0 && adamStep != 0 && !metadata.ContainsKey("epoch_step"))))
            problems.Add(FormattableString.Invariant($"Adam step {adamStep} does not fit epoch {epoch} (every epoch takes at least one step)"));
        if (seed != settings.Seed)
            problems.Add(FormattableString.Invariant($"seed {seed} disagrees with the training settings' seed {settings.Seed}"));
        EpochProgress? partial = null;
        if (metadata.ContainsKey("epoch_step"))
        {
            int step = Number(path, "epoch_step", Get("epoch_step"), int.Parse);
            var lossSum = Real(path, "epoch_loss_sum", Get("epoch_loss_sum"));
            long correct = Number(path, "epoch_correct", Get("epoch_correct"), long.Parse);
            var gradMean = (float)Real(path, "epoch_grad_mean", Get("epoch_grad_mean"));
            var seconds = Real(path, "epoch_seconds", Get("epoch_seconds"));
            partial = new EpochProgress(step, lossSum, correct, gradMean, seconds);
            if (step < 1)
                problems.Add(FormattableString.Invariant($"epoch step {step} is below 1"));
            if (epoch >= settings.Epochs)
                problems.Add(FormattableString.Invariant($"a checkpoint inside epoch {epoch + 1} is beyond the run's {settings.Epochs} epochs"));
            if (adamStep < epoch + (long)step)
                problems.Add(FormattableString.Invariant($"Adam step {adamStep} does not fit epoch {epoch} + {step} step(s)"));
            if (correct < 0 || !double.IsFinite(lossSum) || !float.IsFinite(gradMean) || !(seconds >= 0))
                problems.Add("the epoch's sums so far are not finite and non-negative");
        }
        if (problems.Count > 0)
            throw new CheckpointException($"{path}: the checkpoint metadata is invalid: {string.Join("; ", problems)}.");
        return new CheckpointInfo(model, settings, epoch, adamStep, rng, partial);
    }

    private static double Real(string path, string key, string text) =>
        double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double v)
            ? v
            : throw new CheckpointException($"{path}: the checkpoint metadata's '{key}' is '{text}', not a number.");

    private static T Number<T>(string path, string key, string text, Func<string, NumberStyles, IFormatProvider, T> parse)
    {
        try
        {
            return parse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is FormatException or OverflowException)
        {
            throw new CheckpointException($"{path}: the checkpoint metadata's '{key}' is '{text}', not a whole number of the expected range.", e);
        }
    }

    /// <summary>Copies the checkpoint's parameters and buffers (and, with <paramref name="adam"/>, its moments)
    /// into a model built from the same configuration.</summary>
    public static void Restore(string path, IReadOnlyDictionary<string, NamedTensor> tensors, ITrainableModel model, Adam? adam, long adamStep)
    {
        void Put(string name, DeviceTensor target)
        {
            if (!tensors.TryGetValue(name, out var t))
                throw new CheckpointException($"{path}: missing tensor '{name}': the model {model.Config.Name} needs it but the checkpoint has none of that name.");
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
