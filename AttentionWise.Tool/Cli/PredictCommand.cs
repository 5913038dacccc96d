using System.CommandLine;
using System.Globalization;
using AttentionWise.Training;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw predict`.</summary>
internal static class PredictCommand
{
    public static Command Build(CliIO io)
    {
        var checkpoint = new Option<string>("--checkpoint")
        {
            Description = "A checkpoint written by 'aw train' (runs/<run>/checkpoint.safetensors): an image-folder run or a standard data set's.",
            Required = true,
            HelpName = "FILE",
        };
        var images = new Argument<string[]>("IMAGE|DIR")
        {
            Description = "PNG or JPEG files, or folders whose .png/.jpg/.jpeg files (found recursively) are classified.",
            Arity = ArgumentArity.OneOrMore,
        };
        var top = CliOptions.Positive("--top", "How many of the most probable classes to print for each image. Default: 3.", "K");
        var csv = new Option<string>("--csv") { Description = "Also write the results to this CSV file: image, rank, class, class_index, probability.", HelpName = "FILE" };
        var device = CliOptions.Device();
        var command = new Command("predict",
            "Classify images with a checkpoint's model: prints, for each image, the predicted class and the top-K classes with their probabilities " +
            "(softmax of the model's outputs in evaluation mode). The images get the preprocessing of training: the model's channels " +
            "(color images become grayscale for a grayscale model), its size (resized when the run used --resize; otherwise they must have that size).")
        {
            checkpoint, images, top, csv, device,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            string? csvPath = parse.GetValue(csv);
            if (csvPath is not null && Directory.Exists(csvPath))
                throw new UsageException($"--csv {csvPath} is a directory; give a file name.");
            var outcome = Predictor.Run(new PredictRequest(parse.GetValue(checkpoint)!, parse.GetValue(images)!,
                CliOptions.Given(parse, top) ?? 3, parse.GetValue(device)));
            foreach (var p in outcome.Predictions)
            {
                string rest = string.Join(", ", p.Top.Select(c => string.Create(CultureInfo.InvariantCulture, $"{c.Name} {c.Probability:0.0000}")));
                io.Out.WriteLine($"{p.Image}: {p.Best.Name}  ({rest})");
            }
            if (csvPath is not null)
                WriteCsv(csvPath, outcome);
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>A CSV field, quoted (RFC 4180) when it holds a comma, a quote or a line break.</summary>
    internal static string Field(string text) =>
        text.IndexOfAny([',', '"', '\n', '\r']) >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;

    /// <summary>One row per image and rank, written to a temporary file and renamed: a failure leaves no partial file.</summary>
    private static void WriteCsv(string path, PredictOutcome outcome)
    {
        string full = Path.GetFullPath(path);
        string temp = Path.Combine(Path.GetDirectoryName(full)!, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        try
        {
            using (var writer = new StreamWriter(temp))
            {
                writer.WriteLine("image,rank,class,class_index,probability");
                foreach (var p in outcome.Predictions)
                {
                    for (int r = 0; r < p.Top.Count; r++)
                    {
                        var c = p.Top[r];
                        writer.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"{Field(p.Image)},{r + 1},{Field(c.Name)},{c.Index},{c.Probability:R}"));
                    }
                }
            }
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }
}
