using System.Diagnostics;
using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training;

/// <summary>
/// The training loop (SPEC §4): paper initialisation from the seed, Adam, the training set reshuffled each
/// epoch from a seeded generator, both datasets uploaded to the device once and mini-batches gathered on
/// the device, test evaluation after every epoch, epochs.csv / steps.csv rows flushed as written, a
/// safetensors checkpoint after every epoch and a stop at the first non-finite loss. When
/// <see cref="TrainRequest.Stop"/> is cancelled (a signal, see <c>StopSignals</c> in the CLI), the loop stops at the next
/// step boundary, writes a checkpoint at that step (weights, Adam's moments, the shuffling generator as it was before
/// the epoch's shuffle, the step and the epoch's sums so far) and returns <see cref="RunStatus.Stopped"/>; resuming
/// from it gives the same bits as a run that never stopped.
/// </summary>
/// <remarks>
/// Around the loop: <see cref="RunResolution"/> turns the request into settings, <see cref="RunLock"/> keeps the run
/// folder to this run alone, <see cref="Resumption"/> checks a folder before it is continued, <see cref="RunFiles"/>
/// writes and reads the folder's files, <see cref="Evaluation"/> measures the test set, and <see cref="ModelFootprint"/>
/// refuses a model that cannot fit before anything is allocated. Every check that can fail runs before the first
/// file of the run is written.
/// </remarks>
public static class Trainer
{
    /// <summary>Resolves a request into a run directory, settings and model, takes the run folder's lock, then trains.</summary>
    /// <exception cref="InvalidRequestException">A value, name or run name is not valid, or the data does not fit the model.</exception>
    /// <exception cref="ResumeConflictException">Options given with --resume disagree with the run's own.</exception>
    /// <exception cref="RunExistsException">A fresh run was asked for where a run already is.</exception>
    /// <exception cref="RunInUseException">Another process trains in the run folder.</exception>
    /// <exception cref="RunFolderException">The run folder's files are damaged or disagree with the checkpoint.</exception>
    /// <exception cref="ModelTooLargeException">The model, its batch and the data do not fit the device.</exception>
    /// <exception cref="DatasetException">The data is missing or corrupt.</exception>
    /// <exception cref="DeviceNotFoundException">The device does not exist.</exception>
    /// <exception cref="CheckpointException">The checkpoint to resume from is missing or corrupt.</exception>
    public static TrainingOutcome Run(TrainRequest request, ITrainingObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var clock = Stopwatch.StartNew();
        var startTime = DateTimeOffset.UtcNow;
        RunResolution.CheckFolderNames(request);
        return request.Resume ? Resume(request, startTime, clock, observer) : Fresh(request, startTime, clock, observer);
    }

    private static TrainingOutcome Fresh(TrainRequest request, DateTimeOffset startTime, Stopwatch clock, ITrainingObserver? observer)
    {
        var (entry, settings) = RunResolution.Fresh(request);
        string runName = request.Run ?? $"{entry.Name}-{startTime.ToLocalTime():yyyyMMdd-HHmmss}";
        string runDir = Path.Combine(request.RunsDirectory, runName);
        RunLock? held = null;
        try
        {
            // An existing folder is locked at once, so that a second writer fails before it reads any data.
            if (Directory.Exists(runDir))
                held = LockFresh(runDir);

            // The device (a wrong --device is a usage error, found before the data is read), then the data.
            using var device = ComputeDevice.Open(request.Device);
            var (train, test) = LoadData(settings, observer);
            settings = RunResolution.WithData(settings, train);
            var config = RunResolution.Configure(entry, train, request.Overrides);
            RequireFits(device, config, settings, train, test);

            // A new folder is made only now, so that a request that fails leaves nothing behind.
            if (held is null)
            {
                Directory.CreateDirectory(runDir);
                held = LockFresh(runDir);
            }
            return Train(device, runDir, config, settings, train, test, resume: null, startTime, clock, observer, request.Stop);
        }
        finally
        {
            held?.Dispose();
        }
    }

    private static RunLock LockFresh(string runDir)
    {
        var held = RunLock.Acquire(runDir);
        if (RunFiles.HoldsRun(runDir))
        {
            held.Dispose();
            throw new RunExistsException(runDir);
        }
        return held;
    }

    private static TrainingOutcome Resume(TrainRequest request, DateTimeOffset startTime, Stopwatch clock, ITrainingObserver? observer)
    {
        string runName = request.Run ?? throw new InvalidRequestException(RunSetting.Run, "is needed to resume a run: it names the run to continue.");
        string runDir = Path.Combine(request.RunsDirectory, runName);
        if (!Directory.Exists(runDir))
            throw new CheckpointException($"{runDir}: there is no such run to resume.");
        // The lock comes before the first read: what is read next cannot change until the run ends.
        using var held = RunLock.Acquire(runDir);
        string ckpt = Path.Combine(runDir, Checkpoint.FileName);
        if (!File.Exists(ckpt))
            throw new CheckpointException($"{ckpt}: there is no checkpoint to resume from (the run has not completed an epoch).");
        var (info, tensors) = Checkpoint.Load(ckpt);
        var settings = RunResolution.Resumed(request, info, runDir);
        var previous = Resumption.CheckFolder(runDir, info);

        using var device = ComputeDevice.Open(request.Device);
        var (train, test) = LoadData(settings, observer);
        var model = info.Model;
        if ((model.Channels, model.Height, model.Width) != (train.Channels, train.Height, train.Width))
        {
            throw new InvalidRequestException(RunSetting.DataDirectory,
                $"{settings.DataDirectory ?? "(the default)"} holds {train.Channels}×{train.Height}×{train.Width} images but the run's model was built for {model.InputDescription} images.");
        }
        RequireFits(device, model, settings, train, test);
        Resumption.CheckSteps(runDir, info.Epoch, info.Step, StepsPerEpoch(train.Count, settings.BatchSize),
            FormattableString.Invariant($"{train.Count} training images at batch {settings.BatchSize}"));
        return Train(device, runDir, model, settings, train, test, new ResumePoint(info, tensors, previous), startTime, clock, observer, request.Stop);
    }

    /// <summary>What a resumed run continues from.</summary>
    private sealed record ResumePoint(CheckpointInfo Info, IReadOnlyDictionary<string, NamedTensor> Tensors, RunConfiguration? Previous);

    private static (Dataset Train, Dataset Test) LoadData(RunSettings settings, ITrainingObserver? observer)
    {
        var split = Datasets.Load(settings, loaded: observer is null ? null : observer.DataLoaded);
        var train = settings.TrainLimit is int limit ? split.Train.Take(limit) : split.Train;
        var test = settings.TestLimit is int testLimit ? split.Test.Take(testLimit) : split.Test;
        if (train.Count == 0 || test.Count == 0)
            throw new DatasetException($"The dataset has {train.Count} training and {test.Count} test images; both must be at least 1.");
        return (train, test);
    }

    /// <summary>The model, one pass of its batch and both data sets must fit the device (see <see cref="ModelFootprint"/>).</summary>
    private static void RequireFits(ComputeDevice device, ModelConfig config, RunSettings settings, Dataset train, Dataset test)
    {
        int part = Math.Min(RunResolution.PartSize(config.Name, settings), train.Count);
        ModelFootprint.Of(config, part, training: true)
            .WithData("the training set", (double)train.Count * train.ItemLength)
            .WithData("the test set", (double)test.Count * test.ItemLength)
            .Require(device);
    }

    private static int StepsPerEpoch(int images, int batch) => TrainingLoop.StepsPerEpoch(images, batch);

    private static TrainingOutcome Train(
        ComputeDevice device, string runDir, ModelConfig config, RunSettings settings, Dataset train, Dataset test,
        ResumePoint? resume, DateTimeOffset startTime, Stopwatch clock, ITrainingObserver? observer, CancellationToken stop)
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
        var shuffle = new Rng(settings.Seed ^ TrainingLoop.ShuffleStream);
        int firstEpoch = 1;
        var partial = resume?.Info.Partial;
        string ckptPath = Path.Combine(runDir, Checkpoint.FileName);
        var rows = new List<EpochRow>();
        if (resume is not null)
        {
            // Into the model first: a checkpoint whose tensors do not fit fails here, before any file changes.
            Checkpoint.Restore(ckptPath, resume.Tensors, model, adam, resume.Info.AdamStep);
            shuffle.State = resume.Info.ShuffleRngState;
            firstEpoch = resume.Info.Epoch + 1;
        }

        int n = train.Count;
        int stepsPerEpoch = StepsPerEpoch(n, settings.BatchSize);
        int part = PartSize(model, settings);
        if (partial is not null && partial.Step >= stepsPerEpoch)
            throw new RunFolderException(FormattableString.Invariant($"{ckptPath} was written after step {partial.Step} of epoch {firstEpoch}, but an epoch has {stepsPerEpoch} steps; nothing was changed."));
        var start = new RunStart(runDir, config, net.ParameterCount, device.Info, settings, n, test.Count, stepsPerEpoch, firstEpoch, partial?.Step ?? 0);
        if (resume is not null && firstEpoch > settings.Epochs)
        {
            // Nothing to train: every file of the run stays as it is.
            string epochsPath = Path.Combine(runDir, RunFiles.EpochsFile);
            if (File.Exists(epochsPath))
                rows.AddRange(RunFiles.ReadRows<EpochRow>(epochsPath).Take(resume.Info.Epoch));
            observer?.Started(start);
            return new TrainingOutcome(RunStatus.AlreadyComplete, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes, clock.Elapsed.TotalSeconds);
        }
        if (resume is not null)
            rows.AddRange(Resumption.Rewind(runDir, resume.Info.Epoch, resume.Info.Step));
        RunFiles.WriteConfig(runDir, RunConfiguration.For(runDir, config, settings, device, net.ParameterCount, train, test, startTime,
            resume?.Previous, resume?.Info.Epoch));
        observer?.Started(start);

        // The loop: batches, Adam, evaluation; the recorder keeps the run folder's files as it goes.
        var loop = new TrainingLoop(net, loss, adam, new TrainingOptions
        {
            Epochs = settings.Epochs,
            BatchSize = settings.BatchSize,
            PartSize = part,
            GradientProbe = model.FirstLayerGradientMean,
            Stop = stop,
        });
        using var recorder = new RunRecorder(runDir, model, adam, config, settings);
        var result = loop.Run(train, test, shuffle, firstEpoch, partial, recorder, observer);
        rows.AddRange(result.Epochs);
        if (result.DivergedAt is var (epoch, step, batchLoss))
        {
            var diverged = new TrainingOutcome(RunStatus.Diverged, runDir, config, net.ParameterCount, device.Name, rows,
                device.PeakAllocatedBytes, clock.Elapsed.TotalSeconds, epoch, step, batchLoss);
            RunFiles.WriteSummary(runDir, RunSummary.Of(diverged));
            return diverged;
        }
        if (result.Status == RunStatus.Stopped)
        {
            return new TrainingOutcome(RunStatus.Stopped, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes,
                clock.Elapsed.TotalSeconds, StoppedAt: result.StoppedAt);
        }

        var outcome = new TrainingOutcome(RunStatus.Completed, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes, clock.Elapsed.TotalSeconds);
        RunFiles.WriteSummary(runDir, RunSummary.Of(outcome));
        return outcome;
    }

    /// <summary>The run folder's files as the loop goes: steps.csv and epochs.csv rows flushed as written, the
    /// checkpoint after every epoch and at a stop inside an epoch.</summary>
    private sealed class RunRecorder(string runDir, ITrainableModel model, Adam adam, ModelConfig config, RunSettings settings)
        : ILoopRecorder, IDisposable
    {
        private readonly string _checkpoint = Path.Combine(runDir, Checkpoint.FileName);
        private CsvLog<EpochRow>? _epochs;
        private CsvLog<StepRow>? _steps;

        public void Begin()
        {
            _epochs = new CsvLog<EpochRow>(Path.Combine(runDir, RunFiles.EpochsFile));
            _steps = new CsvLog<StepRow>(Path.Combine(runDir, RunFiles.StepsFile));
        }

        public void Step(StepRow row) => _steps!.Write(row);

        public void Epoch(EpochRow row, ulong shuffleState)
        {
            _epochs!.Write(row);
            Checkpoint.Save(_checkpoint, model, adam, new CheckpointInfo(config, settings, row.Epoch, adam.StepCount, shuffleState));
        }

        public void Stopped(int epoch, ulong epochShuffleState, EpochProgress progress) =>
            Checkpoint.Save(_checkpoint, model, adam, new CheckpointInfo(config, settings, epoch - 1, adam.StepCount, epochShuffleState, progress));

        public void Dispose()
        {
            _steps?.Dispose();
            _epochs?.Dispose();
        }
    }

    /// <summary>How many images one forward/backward pass of a batch holds: the whole batch for models with batch
    /// statistics, else --micro-batch or <see cref="RunSettings.DefaultMicroBatch"/>.</summary>
    internal static int PartSize(ITrainableModel model, RunSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        return PartSize(model, settings.BatchSize, settings.MicroBatch);
    }

    /// <inheritdoc cref="PartSize(ITrainableModel, RunSettings)"/>
    internal static int PartSize(ITrainableModel model, int batchSize, int? microBatch)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (!model.BatchIndependent)
        {
            if (microBatch is int m && m < batchSize)
            {
                throw new InvalidRequestException(RunSetting.MicroBatch, FormattableString.Invariant(
                    $"{m} cannot split a batch of {model.Config.Name}: its batchnorm statistics need the whole batch of {batchSize} at once; lower the batch size instead."));
            }
            return batchSize;
        }
        return Math.Min(batchSize, microBatch ?? RunSettings.DefaultMicroBatch);
    }
}
