using System.CommandLine;
using AttentionWise.Training;
using AttentionWise.Training.Models;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw train`.</summary>
internal static class TrainCommand
{
    public static Command Build(CliIO io)
    {
        var model = CliOptions.Model($"Model to train (see 'aw params'). Default: {ModelRegistry.Default}.");
        var dataset = CliOptions.Dataset("Dataset. Default: fashion-mnist (cifar10 for attention-cifar).");
        var epochs = CliOptions.NonNegative("--epochs", $"Total epochs of the run; with --resume, training continues until this many are done. Default: {RunSettings.DefaultEpochs}.");
        var batch = CliOptions.Positive("--batch-size", "Mini-batch size. Default: 4096 on Fashion-MNIST, 1024 on CIFAR-10 (the paper's).");
        var lr = CliOptions.PositiveFloat("--lr", "Adam learning rate. Default: 0.001.");
        var attentionLr = CliOptions.PositiveFloat("--attention-lr",
            "Learning rate of the attention weights (Wx, Wy and head biases) alone: the paper's segregated optimisation uses 0.1. Default: same as --lr.");
        var seed = new Option<ulong>("--seed") { Description = $"Seed of the initial weights and of the per-epoch shuffles. Default: {RunSettings.DefaultSeed}.", HelpName = "N" };
        var device = CliOptions.Device();
        var data = CliOptions.Data();
        var run = new Option<string>("--run") { Description = "Run name: results go to <runs-dir>/<run>/. Default: <model>-<yyyyMMdd-HHmmss>. Required with --resume.", HelpName = "NAME" };
        var runsDir = new Option<string>("--runs-dir") { Description = "Directory that holds the runs.", DefaultValueFactory = _ => "runs", HelpName = "DIR" };
        var trainLimit = CliOptions.Positive("--train-limit", "Train on the first N training images only (quick runs).");
        var testLimit = CliOptions.Positive("--test-limit", "Evaluate on the first N test images only (quick runs; the paper's accuracy is on all 10,000).");
        var microBatch = CliOptions.Positive("--micro-batch",
            $"Models without batch statistics (control, dia-control): train each batch in parts of at most N images whose gradients add up to the batch's, to save device memory. Default: {RunSettings.DefaultMicroBatch}. Attention models (batchnorm) always take the whole batch.");
        var resume = new Option<bool>("--resume") { Description = "Continue the run named by --run from its checkpoint.safetensors, with the run's own settings." };
        var heads = CliOptions.Positive("--heads", "Attention models: heads per layer (overrides the configuration's).");
        var layers = CliOptions.Positive("--layers", "Attention models: attention layers (overrides the configuration's).");
        var postBn = new Option<bool>("--post-conv-bn") { Description = "Attention models: BatchNorm2d after each layer's conv (true|false; overrides the configuration's).", HelpName = "true|false" };
        var noSkip = new Option<bool>("--no-skip") { Description = "Attention models: no skip connection (Y = conv(Z) instead of conv(Z) + X)." };
        var (channels, resize, valSplit) = CliOptions.ImageFolderOptions();
        var headBias = new Option<bool>("--head-bias") { Description = "Attention models: a learnable bias inside each head (Px = X ⊙ Wx + Bx)." };
        var stopSignal = CliOptions.StopSignal();

        var command = new Command("train",
            "Train a model and write runs/<run>/: epochs.csv (per epoch: loss_sum, loss_mean, test_accuracy, last_grad_mean, epoch_seconds, " +
            "images_per_second, device, train_accuracy, test_loss, peak_device_bytes), steps.csv (per step: epoch, step, loss, grad_mean), config.json, " +
            "summary.json and checkpoint.safetensors (after every epoch). With no options: attention-b on Fashion-MNIST for 10 epochs on the best device. " +
            "Exit code 3 when the training loss becomes NaN or infinite (the files written so far stay valid). " +
            "SIGTERM or SIGUSR1 stop it at the next step with a checkpoint there (exit code 75); --resume continues from that step, with the same results as a run never stopped.")
        {
            model, dataset, epochs, batch, lr, attentionLr, seed, device, data, run, runsDir, trainLimit, testLimit, microBatch, resume, heads, layers, postBn, noSkip, headBias, stopSignal,
            channels, resize, valSplit,
        };

        command.SetAction(parse => io.Guard(() =>
        {
            using var stop = new StopSignals(CliOptions.Given(parse, stopSignal));
            var request = new TrainRequest
            {
                Model = CliOptions.Given(parse, model),
                Dataset = CliOptions.Given(parse, dataset),
                Epochs = CliOptions.Given(parse, epochs),
                BatchSize = CliOptions.Given(parse, batch),
                LearningRate = CliOptions.Given(parse, lr),
                AttentionLearningRate = CliOptions.Given(parse, attentionLr),
                Seed = CliOptions.Given(parse, seed),
                Device = parse.GetValue(device),
                DataDirectory = CliOptions.Given(parse, data),
                Run = CliOptions.Given(parse, run),
                RunsDirectory = parse.GetValue(runsDir) ?? "runs",
                TrainLimit = CliOptions.Given(parse, trainLimit),
                TestLimit = CliOptions.Given(parse, testLimit),
                MicroBatch = CliOptions.Given(parse, microBatch),
                Resume = parse.GetValue(resume),
                Channels = CliOptions.Given(parse, channels),
                Resize = CliOptions.Given(parse, resize),
                ValSplit = CliOptions.Given(parse, valSplit),
                Overrides = new AttentionOverrides(
                    CliOptions.Given(parse, heads),
                    CliOptions.Given(parse, layers),
                    CliOptions.Given(parse, postBn),
                    parse.GetValue(noSkip) ? false : null,
                    parse.GetValue(headBias) ? true : null),
                Stop = stop.Token,
            };
            var display = new TrainingDisplay(io, reportLoading: true);
            var outcome = display.Run(request);
            display.Summary(outcome);
            if (outcome.Status == RunStatus.Diverged)
                return io.Fail(ExitCodes.Diverged, outcome.DivergenceMessage!);
            return outcome.Status == RunStatus.Stopped ? ExitCodes.Stopped : ExitCodes.Ok;
        }));
        return command;
    }
}
