using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training.Training;

/// <summary>How a run ended.</summary>
public enum RunStatus
{
    /// <summary>Every requested epoch was trained.</summary>
    Completed,

    /// <summary>The training loss became NaN or infinite; the run stopped there.</summary>
    Diverged,

    /// <summary>--resume found the run already at the requested number of epochs.</summary>
    AlreadyComplete,
}

/// <summary>What the progress display learns when a run starts.</summary>
public sealed record RunStart(
    string RunDirectory,
    ModelConfig Model,
    long ParameterCount,
    DeviceInfo Device,
    RunSettings Settings,
    int TrainImages,
    int TestImages,
    int StepsPerEpoch,
    int FirstEpoch);

/// <summary>Receives progress as a run goes (the command line shows it).</summary>
public interface ITrainingObserver
{
    void Started(RunStart start);
    void Step(int epoch, int step, int stepsPerEpoch, float loss, double imagesPerSecond);
    void Evaluating(int epoch);
    void EpochCompleted(EpochRow row);
}

/// <summary>The end of a run.</summary>
public sealed record TrainingOutcome(
    RunStatus Status,
    string RunDirectory,
    ModelConfig Model,
    long ParameterCount,
    string DeviceName,
    IReadOnlyList<EpochRow> Epochs,
    long PeakDeviceBytes,
    double WallSeconds,
    int? DivergedEpoch = null,
    int? DivergedStep = null,
    float? DivergedLoss = null)
{
    /// <summary>0 when completed, 3 when the loss became non-finite.</summary>
    public int ExitCode => Status == RunStatus.Diverged ? ExitCodes.Diverged : ExitCodes.Ok;

    public string? DivergenceMessage => Status != RunStatus.Diverged
        ? null
        : FormattableString.Invariant(
            $"The training loss became non-finite ({DivergedLoss}) at epoch {DivergedEpoch}, step {DivergedStep}; the run stopped there. ")
          + (DivergedEpoch > 1
              ? FormattableString.Invariant($"epochs.csv and steps.csv hold every row up to that step, and {Checkpoint.FileName} is the checkpoint after epoch {DivergedEpoch - 1}.")
              : "epochs.csv and steps.csv hold every row up to that step; no epoch completed, so there is no checkpoint.");
}

/// <summary>Process exit codes of the `aw` tool.</summary>
public static class ExitCodes
{
    public const int Ok = 0;

    /// <summary>Missing or corrupt data or checkpoint, or another runtime error.</summary>
    public const int Error = 1;

    /// <summary>Bad command line: unknown option, model, dataset or device, or a bad value.</summary>
    public const int Usage = 2;

    /// <summary>The training loss became NaN or infinite.</summary>
    public const int Diverged = 3;
}

/// <summary>
/// The training loop (SPEC §4): paper initialisation from the seed, Adam, the training set reshuffled each
/// epoch from a seeded generator, both datasets uploaded to the device once and mini-batches gathered on
/// the device, test evaluation after every epoch, epochs.csv / steps.csv rows flushed as written, a
/// safetensors checkpoint after every epoch and a stop at the first non-finite loss.
/// </summary>
public static class Trainer
{
    public const string EpochsFile = "epochs.csv";
    public const string StepsFile = "steps.csv";
    public const string ConfigFile = "config.json";
    public const string SummaryFile = "summary.json";

    /// <summary>The shuffling generator is seeded apart from the initialisation one, so that every model sees
    /// the same batches for the same seed.</summary>
    private const ulong ShuffleStream = 0x5348554646_4C45UL;

    /// <summary>Resolves a request into a run directory, settings and model, then trains.</summary>
    /// <exception cref="UsageException">The request does not fit (unknown names, bad values, conflicts with a checkpoint).</exception>
    /// <exception cref="DatasetException">The data is missing or corrupt.</exception>
    /// <exception cref="DeviceNotFoundException">The device does not exist.</exception>
    /// <exception cref="CheckpointException">The checkpoint to resume from is missing or corrupt.</exception>
    public static TrainingOutcome Run(TrainRequest request, ITrainingObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var startTime = DateTimeOffset.UtcNow;

        // 1. Settings: from the request, or from the checkpoint on --resume.
        string runName;
        string runDir;
        CheckpointInfo? resumeInfo = null;
        IReadOnlyDictionary<string, NamedTensor>? resumeTensors = null;
        string? modelName = request.Model;
        RunSettings settings;
        if (request.Resume)
        {
            runName = request.Run ?? throw new UsageException("--resume needs --run NAME: the run to continue (a directory under --runs-dir).");
            runDir = Path.Combine(request.RunsDirectory, runName);
            string ckpt = Path.Combine(runDir, Checkpoint.FileName);
            if (!File.Exists(ckpt))
            {
                throw new CheckpointException(Directory.Exists(runDir)
                    ? $"{ckpt}: there is no checkpoint to resume from (the run has not completed an epoch)."
                    : $"{runDir}: there is no such run to resume.");
            }
            (resumeInfo, resumeTensors) = Checkpoint.Load(ckpt);
            settings = ResumeSettings(request, resumeInfo);
            modelName = resumeInfo.Model.Name;
        }
        else
        {
            modelName ??= ModelRegistry.Default;
            var entry = Find(modelName);
            string dataset = Canonical(request.Dataset ?? entry.DefaultDataset);
            settings = new RunSettings
            {
                Dataset = dataset,
                DataDirectory = request.DataDirectory,
                Epochs = request.Epochs ?? RunSettings.DefaultEpochs,
                BatchSize = request.BatchSize ?? Datasets.DefaultBatchSize(dataset),
                LearningRate = request.LearningRate ?? RunSettings.DefaultLearningRate,
                AttentionLearningRate = request.AttentionLearningRate,
                Seed = request.Seed ?? RunSettings.DefaultSeed,
                TrainLimit = request.TrainLimit,
                TestLimit = request.TestLimit,
                MicroBatch = request.MicroBatch,
            };
            runName = request.Run ?? $"{entry.Name}-{startTime.ToLocalTime():yyyyMMdd-HHmmss}";
            runDir = Path.Combine(request.RunsDirectory, runName);
            if (File.Exists(Path.Combine(runDir, EpochsFile)) || File.Exists(Path.Combine(runDir, Checkpoint.FileName)))
                throw new UsageException($"The run directory {runDir} already holds a run: pass --resume to continue it, or choose another --run.");
        }
        Validate(settings);

        // 2. The device (a wrong --device is a usage error, found before the data is read), then the data.
        using var device = ComputeDevice.Open(request.Device);
        var split = Datasets.Load(settings.Dataset, settings.DataDirectory);
        var train = settings.TrainLimit is int limit ? split.Train.Take(limit) : split.Train;
        var test = settings.TestLimit is int testLimit ? split.Test.Take(testLimit) : split.Test;

        var model = resumeInfo?.Model ?? Configure(modelName, train, request.Overrides);
        if (resumeInfo is not null && (model.Channels, model.Height, model.Width) != (train.Channels, train.Height, train.Width))
            throw new UsageException($"The checkpoint's model was built for {model.InputDescription} images but the data holds {train.Channels}×{train.Height}×{train.Width}.");

        Directory.CreateDirectory(runDir);
        return Train(device, runDir, model, settings, train, test, resumeInfo, resumeTensors, startTime, clock, observer);
    }

    private static TrainingOutcome Train(
        ComputeDevice device, string runDir, ModelConfig config, RunSettings settings, Dataset train, Dataset test,
        CheckpointInfo? resume, IReadOnlyDictionary<string, NamedTensor>? resumeTensors, DateTimeOffset startTime, Stopwatch clock,
        ITrainingObserver? observer)
    {
        device.ResetPeak();
        using var model = ModelRegistry.Create(device, config);
        var net = model.Network;
        Init.Apply(net, new Rng(settings.Seed));
        var groups = settings.AttentionLearningRate is float alr
            ? new Dictionary<string, float> { [Parameter.AttentionGroup] = alr }
            : null;
        using var adam = new Adam(device, net.NamedParameters(), settings.LearningRate, groupLearningRates: groups);
        using var loss = new LogSoftmaxNllLoss(device);
        var shuffle = new Rng(settings.Seed ^ ShuffleStream);
        int firstEpoch = 1;
        string ckptPath = Path.Combine(runDir, Checkpoint.FileName);
        string epochsPath = Path.Combine(runDir, EpochsFile);
        string stepsPath = Path.Combine(runDir, StepsFile);
        var rows = new List<EpochRow>();
        if (resume is not null)
        {
            Checkpoint.Restore(ckptPath, resumeTensors!, model, adam, resume.AdamStep);
            shuffle.State = resume.ShuffleRngState;
            firstEpoch = resume.Epoch + 1;
            CsvLog<EpochRow>.TruncateAfterEpoch(epochsPath, resume.Epoch);
            CsvLog<StepRow>.TruncateAfterEpoch(stepsPath, resume.Epoch);
            if (File.Exists(epochsPath))
                rows.AddRange(CsvLog<EpochRow>.ReadAll(epochsPath));
        }
        WriteConfig(runDir, config, settings, device, net.ParameterCount, train, test, startTime, resume);

        int n = train.Count;
        if (n == 0 || test.Count == 0)
            throw new DatasetException($"The dataset has {n} training and {test.Count} test images; both must be at least 1.");
        int batch = settings.BatchSize;
        int stepsPerEpoch = (n + batch - 1) / batch;
        int part = PartSize(model, settings);
        var start = new RunStart(runDir, config, net.ParameterCount, device.Info, settings, n, test.Count, stepsPerEpoch, firstEpoch);
        observer?.Started(start);

        if (firstEpoch > settings.Epochs)
        {
            var done = new TrainingOutcome(RunStatus.AlreadyComplete, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes, clock.Elapsed.TotalSeconds);
            WriteSummary(runDir, done);
            return done;
        }

        // Both sets go to the device once; batches are gathered there.
        using var trainImages = device.Upload(train.Shape, train.Images);
        using var trainLabels = device.Upload(Shape.Of(n), ToFloats(train.Labels));
        using var testImages = device.Upload(test.Shape, test.Images);
        using var testLabels = device.Upload(Shape.Of(test.Count), ToFloats(test.Labels));
        using var testOrder = device.Upload(Shape.Of(test.Count), ToFloats(Enumerable.Range(0, test.Count).ToArray()));
        using var order = device.Allocate(Shape.Of(n));
        int largest = Math.Min(part, n);
        using var x = device.Allocate(Shape.Of(largest, train.Channels, train.Height, train.Width));
        using var y = device.Allocate(Shape.Of(largest));
        using var epochs = new CsvLog<EpochRow>(epochsPath);
        using var steps = new CsvLog<StepRow>(stepsPath);
        var permutation = new int[n];

        for (int epoch = firstEpoch; epoch <= settings.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            for (int i = 0; i < n; i++)
                permutation[i] = i;
            shuffle.Shuffle(permutation);
            order.Upload(ToFloats(permutation));

            net.Train();
            double lossSum = 0;
            long correct = 0;
            float gradMean = 0;
            for (int step = 0; step < stepsPerEpoch; step++)
            {
                int offset = step * batch;
                int size = Math.Min(batch, n - offset);
                adam.ZeroGrad();
                var (batchLoss, batchCorrect) = ForwardBackward(net, loss, trainImages, trainLabels, order, offset, size, part, x, y);
                gradMean = model.FirstLayerGradientMean();
                steps.Write(new StepRow { Epoch = epoch, Step = step + 1, Loss = batchLoss, GradMean = gradMean });
                if (!float.IsFinite(batchLoss))
                {
                    var diverged = new TrainingOutcome(RunStatus.Diverged, runDir, config, net.ParameterCount, device.Name, rows,
                        device.PeakAllocatedBytes, clock.Elapsed.TotalSeconds, epoch, step + 1, batchLoss);
                    WriteSummary(runDir, diverged);
                    return diverged;
                }
                adam.Step();
                lossSum += batchLoss;
                correct += batchCorrect;
                observer?.Step(epoch, step + 1, stepsPerEpoch, batchLoss, (offset + size) / epochClock.Elapsed.TotalSeconds);
            }
            double trainSeconds = epochClock.Elapsed.TotalSeconds;

            observer?.Evaluating(epoch);
            var (testLoss, testAccuracy) = Evaluate(net, loss, testImages, testLabels, testOrder, part);
            var row = new EpochRow
            {
                Epoch = epoch,
                LossSum = lossSum,
                LossMean = lossSum / stepsPerEpoch,
                TestAccuracy = testAccuracy,
                LastGradMean = gradMean,
                EpochSeconds = epochClock.Elapsed.TotalSeconds,
                ImagesPerSecond = n / trainSeconds,
                Device = device.Name,
                TrainAccuracy = 100.0 * correct / n,
                TestLoss = testLoss,
                PeakDeviceBytes = device.PeakAllocatedBytes,
            };
            epochs.Write(row);
            rows.Add(row);
            Checkpoint.Save(ckptPath, model, adam, new CheckpointInfo(config, settings, epoch, adam.StepCount, shuffle.State));
            observer?.EpochCompleted(row);
        }

        var outcome = new TrainingOutcome(RunStatus.Completed, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes, clock.Elapsed.TotalSeconds);
        WriteSummary(runDir, outcome);
        return outcome;
    }

    /// <summary>
    /// The forward and backward passes of one training batch: the <paramref name="size"/> images listed in
    /// <paramref name="order"/> from <paramref name="offset"/>, gathered on the device in parts of at most
    /// <paramref name="part"/> images into <paramref name="x"/> and <paramref name="y"/> (buffers with room for a part).
    /// Each part's loss gradient is divided by the whole batch's size, so the parameter gradients that accumulate
    /// are the whole batch's. Returns the batch's mean loss and its count of correct predictions.
    /// </summary>
    public static (float Loss, int Correct) ForwardBackward(Module net, LogSoftmaxNllLoss loss, DeviceTensor images, DeviceTensor labels,
        DeviceTensor order, int offset, int size, int part, DeviceTensor x, DeviceTensor y)
    {
        ArgumentNullException.ThrowIfNull(net);
        ArgumentNullException.ThrowIfNull(loss);
        ArgumentNullException.ThrowIfNull(images);
        ArgumentOutOfRangeException.ThrowIfLessThan(part, 1);
        var item = images.Shape.ToArray();
        float batchLoss = 0;
        int correct = 0;
        for (int first = 0; first < size; first += part)
        {
            int count = Math.Min(part, size - first);
            item[0] = count;
            x.Resize(Shape.Of(item));
            y.Resize(Shape.Of(count));
            Gather.Rows(images, order, offset + first, x);
            Gather.Rows(labels, order, offset + first, y);
            loss.Forward(net.Forward(x), y);
            var (partLoss, partCorrect) = loss.Result();
            batchLoss += count == size ? partLoss : partLoss * count / size;
            correct += partCorrect;
            net.Backward(loss.Backward(size));
        }
        return (batchLoss, correct);
    }

    /// <summary>How many images one forward/backward pass of a batch holds: the whole batch for models with batch
    /// statistics, else --micro-batch or <see cref="RunSettings.DefaultMicroBatch"/>.</summary>
    public static int PartSize(ITrainableModel model, RunSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return PartSize(model, settings.BatchSize, settings.MicroBatch);
    }

    /// <inheritdoc cref="PartSize(ITrainableModel, RunSettings)"/>
    public static int PartSize(ITrainableModel model, int batchSize, int? microBatch)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!model.BatchIndependent)
        {
            if (microBatch is int m && m < batchSize)
                throw new UsageException($"--micro-batch {m} cannot split a batch of {model.Config.Name}: its batchnorm statistics need the whole batch of {batchSize} at once. Lower --batch-size instead.");
            return batchSize;
        }
        return Math.Min(batchSize, microBatch ?? RunSettings.DefaultMicroBatch);
    }

    /// <summary>Mean NLL and accuracy (%) of a network in evaluation mode over a device-resident set, in batches.</summary>
    public static (double Loss, double Accuracy) Evaluate(Module net, LogSoftmaxNllLoss loss, DeviceTensor images, DeviceTensor labels, DeviceTensor order, int batch)
    {
        var device = images.Device;
        int n = images.Shape.N;
        net.Eval();
        try
        {
            if (n == 0)
                return (double.NaN, double.NaN);
            var item = images.Shape.ToArray();
            int size0 = Math.Min(batch, n);
            item[0] = size0;
            using var x = device.Allocate(Shape.Of(item));
            using var y = device.Allocate(Shape.Of(size0));
            double lossSum = 0;
            long correct = 0;
            for (int offset = 0; offset < n; offset += batch)
            {
                int size = Math.Min(batch, n - offset);
                item[0] = size;
                x.Resize(Shape.Of(item));
                y.Resize(Shape.Of(size));
                Gather.Rows(images, order, offset, x);
                Gather.Rows(labels, order, offset, y);
                loss.Forward(net.Forward(x), y);
                var (l, c) = loss.Result();
                lossSum += (double)l * size;
                correct += c;
            }
            return (lossSum / n, 100.0 * correct / n);
        }
        finally
        {
            net.Train();
        }
    }

    internal static float[] ToFloats(int[] values)
    {
        var f = new float[values.Length];
        for (int i = 0; i < f.Length; i++)
            f[i] = values[i];
        return f;
    }

    private static ModelEntry Find(string name)
    {
        try
        {
            return ModelRegistry.Find(name);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static string Canonical(string dataset)
    {
        try
        {
            return Datasets.Canonical(dataset);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static ModelConfig Configure(string name, Dataset train, AttentionOverrides overrides)
    {
        try
        {
            return ModelRegistry.Configure(name, train.Channels, train.Height, train.Width, train.Classes, overrides);
        }
        catch (ArgumentException e)
        {
            throw new UsageException(e.Message);
        }
    }

    private static void Validate(RunSettings s)
    {
        if (s.Epochs < 0)
            throw new UsageException($"--epochs must be 0 or more, not {s.Epochs}.");
        if (s.BatchSize < 1)
            throw new UsageException($"--batch-size must be at least 1, not {s.BatchSize}.");
        if (!(s.LearningRate > 0) || !float.IsFinite(s.LearningRate))
            throw new UsageException($"--lr must be a positive number, not {s.LearningRate}.");
        if (s.AttentionLearningRate is float a && (!(a > 0) || !float.IsFinite(a)))
            throw new UsageException($"--attention-lr must be a positive number, not {a}.");
        if (s.TrainLimit is < 1)
            throw new UsageException($"--train-limit must be at least 1, not {s.TrainLimit}.");
        if (s.TestLimit is < 1)
            throw new UsageException($"--test-limit must be at least 1, not {s.TestLimit}.");
        if (s.MicroBatch is < 1)
            throw new UsageException($"--micro-batch must be at least 1, not {s.MicroBatch}.");
    }

    /// <summary>On --resume the checkpoint's settings hold; options given again must agree with them,
    /// except --epochs (the new total), --data and --device.</summary>
    private static RunSettings ResumeSettings(TrainRequest r, CheckpointInfo info)
    {
        var s = info.Settings;
        var conflicts = new List<string>();
        void Check<T>(string option, T? given, T saved)
        {
            if (given is not null && !EqualityComparer<T>.Default.Equals(given, saved))
                conflicts.Add($"{option} {given} (the run has {saved})");
        }
        if (r.Model is not null && !string.Equals(ModelRegistry.IsKnown(r.Model) ? ModelRegistry.Find(r.Model).Name : r.Model, info.Model.Name, StringComparison.Ordinal))
            conflicts.Add($"--model {r.Model} (the run has {info.Model.Name})");
        if (r.Dataset is not null && (!Datasets.IsKnown(r.Dataset) || Datasets.Canonical(r.Dataset) != s.Dataset))
            conflicts.Add($"--dataset {r.Dataset} (the run has {s.Dataset})");
        Check("--batch-size", r.BatchSize, s.BatchSize);
        Check("--lr", r.LearningRate, s.LearningRate);
        if (r.AttentionLearningRate is not null && r.AttentionLearningRate != s.AttentionLearningRate)
            conflicts.Add($"--attention-lr {r.AttentionLearningRate} (the run has {s.AttentionLearningRate?.ToString(CultureInfo.InvariantCulture) ?? "none"})");
        Check("--seed", r.Seed, s.Seed);
        if (r.TrainLimit is not null && r.TrainLimit != s.TrainLimit)
            conflicts.Add($"--train-limit {r.TrainLimit} (the run has {s.TrainLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"})");
        if (r.TestLimit is not null && r.TestLimit != s.TestLimit)
            conflicts.Add($"--test-limit {r.TestLimit} (the run has {s.TestLimit?.ToString(CultureInfo.InvariantCulture) ?? "none"})");
        if (r.Overrides.Any && info.Model.Attention is { } a && r.Overrides.Apply(a) != a)
            conflicts.Add($"attention options (the run has {a})");
        else if (r.Overrides.Any && info.Model.Attention is null)
            conflicts.Add("attention options (the run's model has none)");
        if (conflicts.Count > 0)
            throw new UsageException($"--resume continues a run with its own settings; these options disagree with them: {string.Join("; ", conflicts)}.");
        return s with
        {
            Epochs = r.Epochs ?? s.Epochs,
            DataDirectory = r.DataDirectory ?? s.DataDirectory,
            MicroBatch = r.MicroBatch ?? s.MicroBatch,
        };
    }

    private static void WriteConfig(string runDir, ModelConfig model, RunSettings settings, ComputeDevice device, long parameters,
        Dataset train, Dataset test, DateTimeOffset startTime, CheckpointInfo? resume)
    {
        string path = Path.Combine(runDir, ConfigFile);
        JsonArray resumes = [];
        string originalStart = startTime.ToString("O", CultureInfo.InvariantCulture);
        if (resume is not null && File.Exists(path))
        {
            try
            {
                var old = JsonNode.Parse(File.ReadAllText(path))?.AsObject();
                if (old?["resumes"] is JsonArray previous)
                    resumes = (JsonArray)previous.DeepClone();
                originalStart = old?["start_time"]?.GetValue<string>() ?? originalStart;
            }
            catch (System.Text.Json.JsonException)
            {
                // A damaged config.json is rewritten from what the checkpoint says.
            }
        }
        if (resume is not null)
            resumes.Add(new JsonObject { ["time"] = startTime.ToString("O", CultureInfo.InvariantCulture), ["from_epoch"] = resume.Epoch, ["device"] = device.Name });

        var config = new JsonObject
        {
            ["run"] = Path.GetFileName(Path.GetFullPath(runDir)),
            ["model"] = model.Name,
            ["model_options"] = JsonNode.Parse(model.ToJson()),
            ["parameters"] = parameters,
            ["training"] = JsonNode.Parse(settings.ToJson()),
            ["seed"] = settings.Seed,
            ["dataset"] = new JsonObject
            {
                ["name"] = settings.Dataset,
                ["train_images"] = train.Count,
                ["test_images"] = test.Count,
                ["image_shape"] = new JsonArray(train.Channels, train.Height, train.Width),
            },
            ["device"] = new JsonObject
            {
                ["name"] = device.Name,
                ["kind"] = device.Info.KindName,
                ["index"] = device.Info.Index,
                ["memory_bytes"] = device.Info.MemoryBytes,
            },
            ["ilgpu"] = ComputeDevice.IlgpuFlavor,
            ["dotnet"] = RunInfo.DotNet,
            ["attentionwise_version"] = RunInfo.Version,
            ["start_time"] = originalStart,
            ["resumes"] = resumes,
        };
        WriteJson(path, config);
    }

    private static void WriteSummary(string runDir, TrainingOutcome o)
    {
        var last = o.Epochs.Count > 0 ? o.Epochs[^1] : null;
        var summary = new JsonObject
        {
            ["status"] = o.Status switch { RunStatus.Diverged => "diverged", RunStatus.AlreadyComplete => "already-complete", _ => "completed" },
            ["epochs_completed"] = last?.Epoch ?? 0,
            ["final_loss_sum"] = last is null ? null : JsonValue.Create(Finite(last.LossSum)),
            ["final_test_accuracy"] = last is null ? null : JsonValue.Create(Finite(last.TestAccuracy)),
            ["final_last_grad_mean"] = last is null ? null : JsonValue.Create(Finite(last.LastGradMean)),
            ["peak_device_bytes"] = o.PeakDeviceBytes,
            ["wall_seconds"] = Math.Round(o.WallSeconds, 3),
            ["diverged_at"] = o.Status == RunStatus.Diverged
                ? new JsonObject { ["epoch"] = o.DivergedEpoch, ["step"] = o.DivergedStep, ["loss"] = o.DivergedLoss?.ToString(CultureInfo.InvariantCulture) }
                : null,
            ["message"] = o.DivergenceMessage,
        };
        WriteJson(Path.Combine(runDir, SummaryFile), summary);
    }

    private static double? Finite(double v) => double.IsFinite(v) ? v : null;

    private static void WriteJson(string path, JsonNode node)
    {
        string temp = path + ".tmp";
        File.WriteAllText(temp, node.ToJsonString(new System.Text.Json.JsonSerializerOptions
        {
            WriteIndented = true,
            Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
        }) + "\n");
        File.Move(temp, path, overwrite: true);
    }
}
