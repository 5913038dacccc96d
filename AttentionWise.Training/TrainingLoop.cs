using System.Diagnostics;
using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;

namespace AttentionWise.Training;

/// <summary>How <see cref="TrainingLoop"/> trains.</summary>
public sealed record TrainingOptions
{
    /// <summary>Epochs to train (0: none; the result then holds no epoch).</summary>
    public int Epochs { get; init; } = 1;

    /// <summary>Images per optimiser step (the last step of an epoch takes what is left).</summary>
    public int BatchSize { get; init; } = 64;

    /// <summary>Seeds the generator that reshuffles the training set before every epoch (apart from the weights'
    /// initialisation: the same seed gives the same batches whatever the model).</summary>
    public ulong Seed { get; init; } = 1;

    /// <summary>Reshuffle the training set before every epoch; false: every epoch takes the images in order.</summary>
    public bool Shuffle { get; init; } = true;

    /// <summary>Images per forward/backward pass: a batch is trained in parts of at most this many images whose
    /// gradients add up to the batch's (null: the whole batch at once). Only for models without batch statistics;
    /// the test set is evaluated in passes of this size too.</summary>
    public int? PartSize { get; init; }

    /// <summary>A safetensors file written after every epoch with the model's parameters and buffers and the
    /// optimiser's moments (<see cref="Checkpoint.SaveModule"/>); null: none.</summary>
    public string? CheckpointPath { get; init; }

    /// <summary>Read after every step's backward pass and reported as the step's gradient mean (e.g. the mean
    /// gradient of the first layer's weight); null: 0.</summary>
    public Func<float>? GradientProbe { get; init; }

    /// <summary>Cancelled to stop at the next step boundary (<see cref="RunStatus.Stopped"/>).</summary>
    public CancellationToken Stop { get; init; }
}

/// <summary>The end of <see cref="TrainingLoop.Fit"/>.</summary>
/// <param name="Status">Completed, Diverged (a non-finite training loss) or Stopped (<see cref="TrainingOptions.Stop"/>).</param>
/// <param name="Epochs">A row per completed epoch (test loss and accuracy are NaN without a test set).</param>
/// <param name="DivergedAt">The epoch, step and loss where the loss became non-finite.</param>
/// <param name="StoppedAt">The epoch and step after which the loop stopped.</param>
public sealed record TrainingResult(
    RunStatus Status,
    IReadOnlyList<EpochRow> Epochs,
    (int Epoch, int Step, float Loss)? DivergedAt = null,
    (int Epoch, int Step)? StoppedAt = null);

/// <summary>
/// The training loop, for any <see cref="Module"/> that maps a batch of images to class logits: the training set
/// reshuffled every epoch from a seeded generator, both data sets uploaded to the device once and each batch gathered
/// there, <see cref="Adam"/> after every batch, the test set evaluated after every epoch, a stop at the first
/// non-finite loss. Progress goes to an <see cref="ITrainingObserver"/>; nothing is written to the console.
/// </summary>
/// <remarks>The caller initialises the weights (<see cref="Init.Apply"/>) and owns the model, the loss and the
/// optimiser. <see cref="Trainer.Run"/> runs this loop for the command line's models and adds the run folder (CSV
/// files, checkpoints with the shuffling state, resumption).</remarks>
public sealed class TrainingLoop
{
    /// <summary>The shuffling generator is seeded apart from the initialisation one, so that every model sees
    /// the same batches for the same seed.</summary>
    internal const ulong ShuffleStream = 0x5348554646_4C45UL;

    private readonly Module _model;
    private readonly LogSoftmaxNllLoss _loss;
    private readonly Adam _optimizer;
    private readonly TrainingOptions _options;

    /// <summary>A loop that trains <paramref name="model"/> with <paramref name="loss"/> and <paramref name="optimizer"/> (whose
    /// parameters are the model's), as <paramref name="options"/> say (defaults: <see cref="TrainingOptions"/>).</summary>
    public TrainingLoop(Module model, LogSoftmaxNllLoss loss, Adam optimizer, TrainingOptions? options = null)
    {
        _model = model ?? throw new ArgumentNullException(nameof(model));
        _loss = loss ?? throw new ArgumentNullException(nameof(loss));
        _optimizer = optimizer ?? throw new ArgumentNullException(nameof(optimizer));
        _options = options ?? new TrainingOptions();
        ArgumentOutOfRangeException.ThrowIfNegative(_options.Epochs, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(_options.BatchSize, 1, nameof(options));
        if (_options.PartSize is < 1)
            throw new ArgumentOutOfRangeException(nameof(options), _options.PartSize, "PartSize must be at least 1.");
    }

    /// <summary>Trains on <paramref name="train"/> and evaluates on <paramref name="test"/> (if any) after every epoch.</summary>
    /// <exception cref="ArgumentException">A data set is empty, or its images do not have one shape.</exception>
    public TrainingResult Fit(Dataset train, Dataset? test = null, ITrainingObserver? observer = null)
    {
        ArgumentNullException.ThrowIfNull(train);
        if (train.Count == 0)
            throw new ArgumentException("The training set holds no images.", nameof(train));
        if (test is not null && (test.Channels, test.Height, test.Width) != (train.Channels, train.Height, train.Width))
            throw new ArgumentException($"The test images are {test.Channels}×{test.Height}×{test.Width}, the training images {train.Channels}×{train.Height}×{train.Width}.", nameof(test));
        var recorder = _options.CheckpointPath is { } path ? new ModuleCheckpointer(path, _model, _optimizer) : null;
        var shuffle = new Rng(_options.Seed ^ ShuffleStream);
        return Run(train, test, shuffle, firstEpoch: 1, partial: null, recorder, observer);
    }

    /// <summary>The images a pass holds: <see cref="TrainingOptions.PartSize"/> or the whole batch.</summary>
    private int Part => _options.PartSize ?? _options.BatchSize;

    internal static int StepsPerEpoch(int images, int batch) => (int)(((long)images + batch - 1) / batch);

    /// <summary>The loop itself; <paramref name="recorder"/> keeps the run's files (Trainer) or a checkpoint.</summary>
    internal TrainingResult Run(Dataset train, Dataset? test, Rng shuffle, int firstEpoch, EpochProgress? partial,
        ILoopRecorder? recorder, ITrainingObserver? observer)
    {
        var device = _model.Device;
        var net = _model;
        var adam = _optimizer;
        var loss = _loss;
        var stop = _options.Stop;
        var rows = new List<EpochRow>();
        int n = train.Count;
        int batch = _options.BatchSize;
        int stepsPerEpoch = StepsPerEpoch(n, batch);
        int part = Part;

        // Both sets go to the device once; batches are gathered there.
        using var trainImages = device.Upload(train.Shape, train.Images);
        using var trainLabels = DeviceIntTensor.Upload(device, train.Labels);
        using var testImages = test is null ? null : device.Upload(test.Shape, test.Images);
        using var testLabels = test is null ? null : DeviceIntTensor.Upload(device, test.Labels);
        using var testOrder = test is null ? null : DeviceIntTensor.Upload(device, Enumerable.Range(0, test.Count).ToArray());
        using var order = new DeviceIntTensor(device, Shape.Of(n));
        int largest = Math.Min(part, n);
        using var x = device.Allocate(Shape.Of(largest, train.Channels, train.Height, train.Width));
        using var y = new DeviceIntTensor(device, Shape.Of(largest));
        recorder?.Begin();
        var permutation = new int[n];

        for (int epoch = firstEpoch; epoch <= _options.Epochs; epoch++)
        {
            var epochClock = Stopwatch.StartNew();
            // The generator as it is before this epoch's shuffle: a checkpoint inside the epoch draws the same order again.
            ulong epochShuffleState = shuffle.State;
            for (int i = 0; i < n; i++)
                permutation[i] = i;
            if (_options.Shuffle)
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
                gradMean = _options.GradientProbe?.Invoke() ?? 0f;
                recorder?.Step(new StepRow { Epoch = epoch, Step = step + 1, Loss = batchLoss, GradMean = gradMean });
                if (!float.IsFinite(batchLoss))
                    return new TrainingResult(RunStatus.Diverged, rows, DivergedAt: (epoch, step + 1, batchLoss));
                adam.Step();
                lossSum += batchLoss;
                correct += batchCorrect;
                observer?.Step(epoch, step + 1, stepsPerEpoch, batchLoss, (offset + size - firstStep * batch) / epochClock.Elapsed.TotalSeconds);
                if (stop.IsCancellationRequested && step + 1 < stepsPerEpoch)
                {
                    var progress = new EpochProgress(step + 1, lossSum, correct, gradMean, earlierSeconds + epochClock.Elapsed.TotalSeconds);
                    recorder?.Stopped(epoch, epochShuffleState, progress);
                    return new TrainingResult(RunStatus.Stopped, rows, StoppedAt: (epoch, step + 1));
                }
            }
            double trainSeconds = earlierSeconds + epochClock.Elapsed.TotalSeconds;

            double testLoss = double.NaN, testAccuracy = double.NaN;
            if (test is not null)
            {
                observer?.Evaluating(epoch);
                (testLoss, testAccuracy) = Evaluation.Evaluate(net, loss, testImages!, testLabels!, testOrder!, part);
            }
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
            rows.Add(row);
            recorder?.Epoch(row, shuffle.State);
            observer?.EpochCompleted(row);
            // A stop asked for in the epoch's last step or its evaluation: the checkpoint just written is the place to resume from.
            if (stop.IsCancellationRequested && epoch < _options.Epochs)
                return new TrainingResult(RunStatus.Stopped, rows, StoppedAt: (epoch, stepsPerEpoch));
        }
        return new TrainingResult(RunStatus.Completed, rows);
    }

    /// <summary>
    /// The forward and backward passes of one training batch: the <paramref name="size"/> images listed in
    /// <paramref name="order"/> from <paramref name="offset"/>, gathered on the device in parts of at most
    /// <paramref name="part"/> images into <paramref name="x"/> and <paramref name="y"/> (buffers with room for a part).
    /// Each part's loss gradient is divided by the whole batch's size, so the parameter gradients that accumulate
    /// are the whole batch's. Returns the batch's mean loss and its count of correct predictions.
    /// </summary>
    internal static (float Loss, int Correct) ForwardBackward(Module net, LogSoftmaxNllLoss loss, DeviceTensor images, DeviceIntTensor labels,
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

    /// <summary><see cref="TrainingOptions.CheckpointPath"/>: the module and the optimiser after every epoch.</summary>
    private sealed class ModuleCheckpointer(string path, Module model, Adam adam) : ILoopRecorder
    {
        public void Epoch(EpochRow row, ulong shuffleState) => Checkpoint.SaveModule(path, model, adam, row.Epoch);
    }
}

/// <summary>What the loop leaves behind besides its result: the run folder's files (<see cref="Trainer"/>) or a
/// checkpoint. Each call comes at a fixed point of the loop.</summary>
internal interface ILoopRecorder
{
    /// <summary>The data is on the device; the first step comes next.</summary>
    void Begin() { }

    /// <summary>A step's forward and backward passes are done (before the optimiser's step, and before a
    /// non-finite loss ends the loop).</summary>
    void Step(StepRow row) { }

    /// <summary>An epoch is done: the optimiser has stepped, the test set is measured; <paramref name="shuffleState"/>
    /// is the shuffling generator after the epoch.</summary>
    void Epoch(EpochRow row, ulong shuffleState) { }

    /// <summary>A stop inside epoch <paramref name="epoch"/>: <paramref name="epochShuffleState"/> is the generator
    /// before the epoch's shuffle, <paramref name="progress"/> the epoch's sums so far.</summary>
    void Stopped(int epoch, ulong epochShuffleState, EpochProgress progress) { }
}
