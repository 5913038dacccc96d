using System.CommandLine;
using AttentionWise.Tool.Visualization;
using AttentionWise.Training;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw visualize`.</summary>
internal static class VisualizeCommand
{
    public static Command Build(CliIO io)
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint written by 'aw train' (runs/<run>/checkpoint.safetensors).",
            Required = true,
            HelpName = "FILE",
        };
        var output = new Option<string>("--out") { Description = "Directory for the PNG files. Default: figures/ beside the checkpoint.", HelpName = "DIR" };
        var images = CliOptions.NonNegative("--images", "Test images to show (the first image of each class in turn; 0: weights only). Default: 4.");
        var device = CliOptions.Device();
        var data = new Option<string>("--data") { Description = "Directory with the dataset files. Default: the run's own.", HelpName = "DIR" };
        var command = new Command("visualize",
            "Draw a checkpoint as PNG figures. Attention models: weights-layer<L>.png (each head's Wx, Wy and the product of their row and column " +
            "softmaxes; paper Fig. 1-2), heads-layer<L>.png (every head's X*Wx, Ox, X*Wy, Oy, R = Ox*Oy and output for one test image; Fig. 3) and " +
            "stages-image<I>.png (every layer's Before Conv, After Conv, Before Norm, After Norm and Final Output; Fig. 4-8). " +
            "Control and dia-control: conv1-filters.png and conv1-maps-image<I>.png. Every heat map has a colour bar: signed values on a diverging map " +
            "centred on zero, non-negative ones on Viridis. The image's class and the model's prediction are in the titles.")
        {
            checkpoint, output, images, device, data,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            var request = new VisualizeRequest(
                parse.GetValue(checkpoint)!,
                CliOptions.Given(parse, output),
                CliOptions.Given(parse, images) ?? 4,
                parse.GetValue(device),
                CliOptions.Given(parse, data));
            var written = Visualizer.Run(request, s =>
            {
                io.Out.WriteLine(s);
                io.Out.Flush();
            });
            io.Out.WriteLine($"{written.Count} figure(s) in {Path.GetDirectoryName(Path.GetFullPath(written[0]))}");
            return ExitCodes.Ok;
        }));
        return command;
    }
}
