using System.Diagnostics;
using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;

namespace AttentionWise.Training.Training;

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
    /// <summary>The shuffling generator is seeded apart from the initialisation one, so that every model sees
    /// the same batches for the same seed.</summary>
    private const ulong ShuffleStream = 0x5348554646_4C45UL;

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
            var (train, test) = LoadData(settings);
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
        var (train, test) = LoadData(settings);
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

    private static (Dataset Train, Dataset Test) LoadData(RunSettings settings)
    {
        var split = Datasets.Load(settings);
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

    private static int StepsPerEpoch(int images, int batch) => (int)(((long)images + batch - 1) / batch);

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
        var shuffle = new Rng(settings.Seed ^ ShuffleStream);
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
        int batch = settings.BatchSize;
        int stepsPerEpoch = StepsPerEpoch(n, batch);
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

        // Both sets go to the device once; batches are gathered there.
        using var trainImages = device.Upload(train.Shape, train.Images);
        using var trainLabels = DeviceIntTensor.Upload(device, train.Labels);
        using var testImages = device.Upload(test.Shape, test.Images);
        using var testLabels = DeviceIntTensor.Upload(device, test.Labels);
        using var testOrder = DeviceIntTensor.Upload(device, Enumerable.Range(0, test.Count).ToArray());
        using var order = new DeviceIntTensor(device, Shape.Of(n));
        int largest = Math.Min(part, n);
        using var x = device.Allocate(Shape.Of(largest, train.Channels, train.Height, train.Width));
        using var y = new DeviceIntTensor(device, Shape.Of(largest));
        using var epochs = new CsvLog<EpochRow>(Path.Combine(runDir, RunFiles.EpochsFile));
        using var steps = new CsvLog<StepRow>(Path.Combine(runDir, RunFiles.StepsFile));
        var permutation = new int[n];

        for (int epoch = firstEpoch; epoch <= settings.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            // The generator as it is before this epoch's shuffle: a checkpoint inside the epoch draws the same order again.
            ulong epochShuffleState = shuffle.State;
            for (int i = 0; i < n; i++)
                permutation[i] = i;
            shuffle.Shuffle(permutation);
            order.Upload(permutation);

            net.Train();
            double lossSum = 0;
            long correct = 0;
            float gradMean = 0;
            int firstStep = 0;
            double earlierSeconds = 0;
            if (partial is not null && epoch == firstEpoch)
            {
                (firstStep, lossSum, correct, gradMean, earlierSeconds) = (partial.Step, partial.LossSum, partial.Correct, partial.GradMean, partial.Seconds);
            }
            for (int step = firstStep; step < stepsPerEpoch; step++)
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
                    RunFiles.WriteSummary(runDir, RunSummary.Of(diverged));
                    return diverged;
                }
                adam.Step();
                lossSum += batchLoss;
                correct += batchCorrect;
                observer?.Step(epoch, step + 1, stepsPerEpoch, batchLoss, (offset + size - firstStep * batch) / epochClock.Elapsed.TotalSeconds);
                if (stop.IsCancellationRequested && step + 1 < stepsPerEpoch)
                {
                    var progress = new EpochProgress(step + 1, lossSum, correct, gradMean, earlierSeconds + epochClock.Elapsed.TotalSeconds);
                    Checkpoint.Save(ckptPath, model, adam, new CheckpointInfo(config, settings, epoch - 1, adam.StepCount, epochShuffleState, progress));
                    return new TrainingOutcome(RunStatus.Stopped, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes,
                        clock.Elapsed.TotalSeconds, StoppedAt: (epoch, step + 1));
                }
            }
            double trainSeconds = earlierSeconds + epochClock.Elapsed.TotalSeconds;

            observer?.Evaluating(epoch);
            var (testLoss, testAccuracy) = Evaluation.Evaluate(net, loss, testImages, testLabels, testOrder, part);
            var row = new EpochRow
            {
                Epoch = epoch,
                LossSum = lossSum,
                LossMean = lossSum / stepsPerEpoch,
                TestAccuracy = testAccuracy,
                LastGradMean = gradMean,
                EpochSeconds = earlierSeconds + epochClock.Elapsed.TotalSeconds,
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
            // A stop asked for in the epoch's last step or its evaluation: the checkpoint just written is the place to resume from.
            if (stop.IsCancellationRequested && epoch < settings.Epochs)
            {
                return new TrainingOutcome(RunStatus.Stopped, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes,
                    clock.Elapsed.TotalSeconds, StoppedAt: (epoch, stepsPerEpoch));
            }
        }

        var outcome = new TrainingOutcome(RunStatus.Completed, runDir, config, net.ParameterCount, device.Name, rows, device.PeakAllocatedBytes, clock.Elapsed.TotalSeconds);
        RunFiles.WriteSummary(runDir, RunSummary.Of(outcome));
        return outcome;
    }

    /// <summary>
    /// The forward and backward passes of one training batch: the <paramref name="size"/> images listed in
    /// <paramref name="order"/> from <paramref name="offset"/>, gathered on the device in parts of at most
    /// <paramref name="part"/> images into <paramref name="x"/> and <paramref name="y"/> (buffers with room for a part).
    /// Each part's loss gradient is divided by the whole batch's size, so the parameter gradients that accumulate
    /// are the whole batch's. Returns the batch's mean loss and its count of correct predictions.
    /// </summary>
    public static (float Loss, int Correct) ForwardBackward(Module net, LogSoftmaxNllLoss loss, DeviceTensor images, DeviceIntTensor labels,
        DeviceIntTensor order, int offset, int size, int part, DeviceTensor x, DeviceIntTensor y)
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
            {
                throw new InvalidRequestException(RunSetting.MicroBatch, FormattableString.Invariant(
                    $"{m} cannot split a batch of {model.Config.Name}: its batchnorm statistics need the whole batch of {batchSize} at once; lower the batch size instead."));
            }
            return batchSize;
        }
        return Math.Min(batchSize, microBatch ?? RunSettings.DefaultMicroBatch);
    }
}
