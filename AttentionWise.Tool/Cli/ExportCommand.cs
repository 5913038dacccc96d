using System.CommandLine;
using System.Globalization;
using AttentionWise.Training.Export;
using Google.Protobuf;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw export`: a thin wrapper of <see cref="OnnxExporter.ExportCheckpoint"/>.</summary>
internal static class ExportCommand
{
    public static Command Build(CliIO io)
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint written by 'aw train' (runs/<run>/checkpoint.safetensors).",
            Required = true,
            HelpName = "FILE",
        };
        var output = new Option<string>("--out")
        {
            Description = "The ONNX file to write (replaced if it exists). Default: the checkpoint's path with the extension .onnx.",
            HelpName = "FILE.onnx",
        };
        var opset = new Option<int>("--opset")
        {
            Description = FormattableString.Invariant($"ONNX operator set, {OnnxExporter.MinOpset} to {OnnxExporter.MaxOpset}."),
            DefaultValueFactory = _ => OnnxExporter.DefaultOpset,
            HelpName = "N",
        };
        opset.Validators.Add(r =>
        {
            int v = r.GetValueOrDefault<int>();
            if (v is < OnnxExporter.MinOpset or > OnnxExporter.MaxOpset)
                r.AddError(FormattableString.Invariant($"--opset must be from {OnnxExporter.MinOpset} to {OnnxExporter.MaxOpset}, not {v}."));
        });
        var command = new Command("export",
            "Write a checkpoint's network, in evaluation mode, as a standard ONNX model for ONNX Runtime and other ONNX readers: input " +
            $"'{OnnxExporter.InputName}' [N, C, H, W] (float32 pixel / 255, any batch size N), outputs '{OnnxExporter.LogitsName}' and " +
            $"'{OnnxExporter.LogProbabilitiesName}' [N, classes]. Every model exports (attention models with any options, control, " +
            "dia-control with its LSTM unrolled); batchnorms use their running statistics. The class names, dataset and model " +
            "configuration go into the file's metadata. 'aw eval --onnx FILE' runs the file with ONNX Runtime.")
        {
            checkpoint, output, opset,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            string from = parse.GetValue(checkpoint)!;
            string to = parse.GetValue(output) ?? Path.ChangeExtension(from, ".onnx");
            if (string.Equals(Path.GetFullPath(to), Path.GetFullPath(from), StringComparison.Ordinal))
                throw new UsageException($"--out {to} is the checkpoint itself: choose another file.");
            var model = OnnxExporter.ExportCheckpoint(from, parse.GetValue(opset));
            var problems = OnnxModelCheck.Problems(model);
            if (problems.Count > 0)
                throw new OnnxExportException($"the exported graph fails its structural check: {string.Join("; ", problems)}.");
            OnnxExporter.Save(model, to);
            long bytes = new FileInfo(to).Length;
            long parameters = model.Graph.Initializer.Where(t => t.DataType == (int)Training.Export.Onnx.TensorProto.Types.DataType.Float)
                .Sum(t => t.Dims.Aggregate(1L, (a, d) => a * d));
            io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {to}: {bytes:N0} bytes, ONNX operator set {model.OpsetImport[0].Version} (IR {model.IrVersion}), {model.Graph.Node.Count} nodes, " +
                $"{parameters:N0} float values in {model.Graph.Initializer.Count} initializers"));
            return ExitCodes.Ok;
        }));
        return command;
    }
}
