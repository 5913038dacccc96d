using System.CommandLine;
using AttentionWise.Tool.Visualization;
using AttentionWise.Training;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw plot`.</summary>
internal static class PlotCommand
{
    public static Command Build(CliIO io)
    {
        var runs = new Argument<string[]>("RUN")
        {
            Description = "Run folders written by 'aw train' (runs/<run>); several runs share the axes.",
            Arity = ArgumentArity.OneOrMore,
        };
        var output = new Option<string>("--out")
        {
            Description = "Directory for the figures. Default: figures/ in the run folder for one run, plots/ for several.",
            HelpName = "DIR",
        };
        var format = new Option<string>("--format") { Description = "File format: png or svg. Default: png.", HelpName = "png|svg" };
        format.Validators.Add(r =>
        {
            string? v = r.GetValueOrDefault<string>();
            if (v is not null && Parse(v) is null)
                r.AddError($"Unknown format '{v}' for --format. Valid formats: png, svg.");
        });
        var command = new Command("plot",
            "Draw training curves from run folders (paper Fig. 9-10): steps.png (loss and first-layer gradient average per step) and epochs.png " +
            "(loss sum, test accuracy and last gradient average per epoch), one line per run, a log axis where the values span decades.")
        {
            runs, output, format,
        };
        command.SetAction(parse => io.Guard(() =>
        {
            var request = new PlotRequest(
                parse.GetValue(runs)!,
                CliOptions.Given(parse, output),
                Parse(CliOptions.Given(parse, format) ?? "png")!.Value);
            RunPlots.Run(request, s =>
            {
                io.Out.WriteLine(s);
                io.Out.Flush();
            });
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static FigureFormat? Parse(string v) => v.Trim().ToLowerInvariant() switch
    {
        "png" => FigureFormat.Png,
        "svg" => FigureFormat.Svg,
        _ => null,
    };
}
