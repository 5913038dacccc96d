using System.CommandLine;
using System.Globalization;
using AttentionWise.Tool.Export;
using AttentionWise.Training;
using AttentionWise.Training.Checkpoints;
using AttentionWise.Training.Data;
using AttentionWise.Training.Export;
using AttentionWise.Training.Models;
using Spectre.Console;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw eval --onnx`: an exported model in ONNX Runtime (CPU), alone or beside its checkpoint.</summary>
internal static class OnnxEval
{
    /// <summary>Images per ONNX Runtime call (and per AttentionWise pass beside it) unless --batch-size says otherwise.</summary>
    public const int DefaultBatch = 1000;

    public static Option<string> Option() => new("--onnx")
    {
        Description = "An ONNX file written by 'aw export': run it with ONNX Runtime (CPU) on the test set of the dataset its metadata names " +
                      "and print its loss, accuracy and images/s. With --checkpoint too, AttentionWise evaluates the checkpoint on the same " +
                      "images and the largest logit difference, both accuracies, the images classified differently (with their logit margins) " +
                      $"and both throughputs are printed. --batch-size defaults to {DefaultBatch} here.",
        HelpName = "FILE.onnx",
    };

    public static int Run(CliIO io, string onnxPath, string? checkpointPath, string? device, string? dataDirectory, int? batchSize)
    {
        int batch = batchSize ?? DefaultBatch;
        using var onnx = new OnnxRuntimeModel(onnxPath);
        CheckpointInfo? info = null;
        IReadOnlyDictionary<string, NamedTensor>? tensors = null;
        if (checkpointPath is not null)
            (info, tensors) = Checkpoint.Load(checkpointPath);
        string dataset = info?.Settings.Dataset ?? onnx.Metadata.GetValueOrDefault("dataset") ?? Datasets.FashionMnistName;
        if (!Datasets.IsKnown(dataset))
            throw new InvalidDataException($"{onnxPath}: its metadata names the dataset '{dataset}', which is not one of {string.Join(", ", Datasets.Names)}.");
        var test = Datasets.Load(dataset, dataDirectory ?? info?.Settings.DataDirectory).Test;
        if ((onnx.Channels, onnx.Height, onnx.Width) != (test.Channels, test.Height, test.Width))
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{onnxPath} takes {onnx.Channels}×{onnx.Height}×{onnx.Width} images but the {dataset} test set holds {test.Channels}×{test.Height}×{test.Width} images."));
        var console = Consoles.Create(io.Out, io.Interactive);
        string I(FormattableString s) => s.ToString(CultureInfo.InvariantCulture);
        if (info is null)
        {
            var (logits, speed) = OnnxEvaluation.OnnxLogits(onnx, test, batch);
            var (accuracy, loss) = OnnxEvaluation.Score(logits, test.Labels, onnx.Classes);
            var table = new Table().Border(TableBorder.Rounded).AddColumn("ONNX file").AddColumn("model").AddColumn("dataset")
                .AddColumn(new TableColumn("test images").RightAligned()).AddColumn(new TableColumn("loss").RightAligned())
                .AddColumn(new TableColumn("accuracy %").RightAligned()).AddColumn(new TableColumn("images/s").RightAligned()).AddColumn("runtime");
            table.AddRow(Markup.Escape(onnxPath), Markup.Escape(ModelName(onnx)), dataset, I($"{test.Count:N0}"), I($"{loss:0.0000}"), I($"{accuracy:0.00}"),
                I($"{speed:N0}"), "ONNX Runtime (CPU)");
            console.Write(table);
            io.Out.WriteLine(I($"loss {loss:0.000000} accuracy {accuracy:0.00}% images/s {speed:0}"));
            return ExitCodes.Ok;
        }

        using var computeDevice = ComputeDevice.Open(device);
        ModelFootprint.Of(info.Model, Math.Min(batch, Math.Max(1, test.Count)), training: false).Require(computeDevice);
        using var model = ModelRegistry.Create(computeDevice, info.Model);
        Checkpoint.Restore(checkpointPath!, tensors!, model, adam: null, 0);
        var a = OnnxEvaluation.Compare(model.Network, onnx, test, batch);
        var both = new Table().Border(TableBorder.Rounded).AddColumn("runtime").AddColumn("model").AddColumn(new TableColumn("test images").RightAligned())
            .AddColumn(new TableColumn("accuracy %").RightAligned()).AddColumn(new TableColumn("images/s").RightAligned());
        both.AddRow(Markup.Escape($"AttentionWise ({computeDevice.Name})"), Markup.Escape(info.Model.Name), I($"{a.Images:N0}"), I($"{a.AttentionWiseAccuracy:0.00}"),
            I($"{a.AttentionWiseImagesPerSecond:N0}"));
        both.AddRow("ONNX Runtime (CPU)", Markup.Escape(ModelName(onnx)), I($"{a.Images:N0}"), I($"{a.OnnxAccuracy:0.00}"), I($"{a.OnnxImagesPerSecond:N0}"));
        console.Write(both);
        io.Out.WriteLine(I($"largest logit difference {a.MaxLogitDifference:0.###e+0} (largest |logit| {a.MaxLogit:0.###}); {a.Flips.Count} of {a.Images:N0} images classified differently"));
        foreach (var f in a.Flips)
        {
            io.Out.WriteLine(I($"  test image #{f.Index} (label {f.Label}): AttentionWise {f.AttentionWiseClass} by a margin of {f.AttentionWiseMargin:0.###e+0}, ") +
                             I($"ONNX Runtime {f.OnnxClass} by {f.OnnxMargin:0.###e+0}"));
        }
        io.Out.WriteLine(I($"accuracy AttentionWise {a.AttentionWiseAccuracy:0.00}% ONNX {a.OnnxAccuracy:0.00}% max-logit-diff {a.MaxLogitDifference:G3} ") +
                         I($"images/s AttentionWise {a.AttentionWiseImagesPerSecond:0} ONNX {a.OnnxImagesPerSecond:0}"));
        return ExitCodes.Ok;
    }

    private static string ModelName(OnnxRuntimeModel onnx)
    {
        if (onnx.Metadata.TryGetValue("model_config", out var json))
        {
            try
            {
                return ModelConfig.FromJson(json).Name;
            }
            catch (System.Text.Json.JsonException)
            {
            }
        }
        return "(unnamed)";
    }
}
