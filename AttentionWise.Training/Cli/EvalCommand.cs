using System.CommandLine;
using System.Globalization;
using AttentionWise.Layers;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;
using AttentionWise.Training.Training;
using Spectre.Console;

namespace AttentionWise.Training.Cli;

/// <summary>`aw eval`.</summary>
internal static class EvalCommand
{
    public static Command Build(CliIO io)
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint written by 'aw train' (runs/<run>/checkpoint.safetensors).",
            Required = true,
            HelpName = "FILE",
        };
        var device = CliOptions.Device();
        var data = CliOptions.Data();
        var batch = CliOptions.Positive("--batch-size", "Evaluation batch size. Default: the run's training batch size.");
        var command = new Command("eval", "Evaluate a checkpoint on its dataset's test set: prints the mean NLL loss and the accuracy.")
        {
            checkpoint, device, data, batch,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            string path = parse.GetValue(checkpoint)!;
            var (info, tensors) = Checkpoint.Load(path);
            string? dataDir = CliOptions.Given(parse, data) ?? info.Settings.DataDirectory;
            using var dev = ComputeDevice.Open(parse.GetValue(device));
            var test = Datasets.Load(info.Settings.Dataset, dataDir).Test;
            if ((test.Channels, test.Height, test.Width) != (info.Model.Channels, info.Model.Height, info.Model.Width))
                throw new UsageException($"The checkpoint's model takes {info.Model.InputDescription} images but the test set holds {test.Channels}×{test.Height}×{test.Width}.");
            using var model = ModelRegistry.Create(dev, info.Model);
            Checkpoint.Restore(path, tensors, model, adam: null, 0);
            using var loss = new LogSoftmaxNllLoss(dev);
            using var images = dev.Upload(test.Shape, test.Images);
            using var labels = dev.Upload(Shape.Of(test.Count), Trainer.ToFloats(test.Labels));
            using var order = dev.Upload(Shape.Of(test.Count), Trainer.ToFloats(Enumerable.Range(0, test.Count).ToArray()));
            var (meanLoss, accuracy) = Trainer.Evaluate(model.Network, loss, images, labels, order, CliOptions.Given(parse, batch) ?? Trainer.PartSize(model, info.Settings));
            var console = Consoles.Create(io.Out, io.Interactive);
            var table = new Table().Border(TableBorder.Rounded).AddColumn("checkpoint").AddColumn("model").AddColumn("epoch")
                .AddColumn("dataset").AddColumn(new TableColumn("test images").RightAligned())
                .AddColumn(new TableColumn("loss").RightAligned()).AddColumn(new TableColumn("accuracy %").RightAligned()).AddColumn("device");
            table.AddRow(Markup.Escape(path), Markup.Escape(info.Model.Name), info.Epoch.ToString(CultureInfo.InvariantCulture), info.Settings.Dataset,
                test.Count.ToString("N0", CultureInfo.InvariantCulture), meanLoss.ToString("0.0000", CultureInfo.InvariantCulture),
                accuracy.ToString("0.00", CultureInfo.InvariantCulture), Markup.Escape(dev.Name));
            console.Write(table);
            io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss {meanLoss:0.000000} accuracy {accuracy:0.00}%"));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
