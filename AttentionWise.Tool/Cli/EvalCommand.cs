using System.CommandLine;
using System.Globalization;
using AttentionWise.Training;
using Spectre.Console;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw eval`.</summary>
internal static class EvalCommand
{
    public static Command Build(CliIO io)
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint written by 'aw train' (runs/<run>/checkpoint.safetensors). Required unless --onnx is given.",
            HelpName = "FILE",
        };
        var onnx = OnnxEval.Option();
        var device = CliOptions.Device();
        var data = CliOptions.Data();
        var batch = CliOptions.Positive("--batch-size", "Evaluation batch size. Default: the run's training batch size.");
        var command = new Command("eval",
            "Evaluate a checkpoint on its dataset's test set: prints the mean NLL loss and the accuracy. With --onnx, an exported model " +
            "runs in ONNX Runtime instead; with both, both run on the same images and their agreement is printed.")
        {
            checkpoint, device, data, batch, onnx,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            if (CliOptions.Given(parse, onnx) is { } onnxPath)
                return OnnxEval.Run(io, onnxPath, CliOptions.Given(parse, checkpoint), parse.GetValue(device), CliOptions.Given(parse, data), CliOptions.Given(parse, batch));
            string path = parse.GetValue(checkpoint) ?? throw new UsageException("aw eval needs --checkpoint FILE, --onnx FILE.onnx, or both.");
            var result = Evaluation.Run(new EvalRequest(path, parse.GetValue(device), CliOptions.Given(parse, data), CliOptions.Given(parse, batch)),
                loaded: r => io.Out.WriteLine(r.ToString()));
            var info = result.Info;
            var console = Consoles.Create(io.Out, io.Interactive);
            var table = new Table().Border(TableBorder.Rounded).AddColumn("checkpoint").AddColumn("model").AddColumn("epoch")
                .AddColumn("dataset").AddColumn(new TableColumn("test images").RightAligned())
                .AddColumn(new TableColumn("loss").RightAligned()).AddColumn(new TableColumn("accuracy %").RightAligned()).AddColumn("device");
            table.AddRow(Markup.Escape(path), Markup.Escape(info.Model.Name), info.Epoch.ToString(CultureInfo.InvariantCulture), info.Settings.Dataset,
                result.TestImages.ToString("N0", CultureInfo.InvariantCulture), result.Loss.ToString("0.0000", CultureInfo.InvariantCulture),
                result.Accuracy.ToString("0.00", CultureInfo.InvariantCulture), Markup.Escape(result.DeviceName));
            console.Write(table);
            io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture, $"loss {result.Loss:0.000000} accuracy {result.Accuracy:0.00}%"));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
