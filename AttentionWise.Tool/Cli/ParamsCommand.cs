using System.CommandLine;
using System.Globalization;
using AttentionWise.Training.Data;
using AttentionWise.Training.Models;
using Spectre.Console;

namespace AttentionWise.Tool.Cli;

/// <summary>`aw params`.</summary>
internal static class ParamsCommand
{
    /// <summary>One line of the table.</summary>
    internal sealed record Count(string Model, string Dataset, string Input, long? Ours, long? Paper, string Description);

    public static Command Build(CliIO io)
    {
        var command = new Command("params",
            "Parameter count of every named model on Fashion-MNIST (1×28×28) and CIFAR-10 (3×32×32), next to the paper's count and the difference. " +
            "The paper's counts for A, C-E, G, H and its CIFAR-10 model disagree with its own formula (SPEC §2); only B and F match it.");
        command.SetAction(_ => io.Guard(() =>
        {
            var counts = Compute();
            var console = Consoles.Create(io.Out, io.Interactive);
            var table = new Table().Border(TableBorder.Rounded)
                .AddColumn("model").AddColumn("dataset").AddColumn("input")
                .AddColumn(new TableColumn("ours").RightAligned()).AddColumn(new TableColumn("paper").RightAligned())
                .AddColumn(new TableColumn("ours − paper").RightAligned()).AddColumn("description");
            foreach (var c in counts)
            {
                table.AddRow(
                    c.Model, c.Dataset, c.Input,
                    c.Ours?.ToString("N0", CultureInfo.InvariantCulture) ?? "n/a",
                    c.Paper?.ToString("N0", CultureInfo.InvariantCulture) ?? "—",
                    c.Ours is long o && c.Paper is long p ? (o - p == 0 ? "0" : (o - p).ToString("+#,0;-#,0", CultureInfo.InvariantCulture)) : "",
                    Markup.Escape(c.Description));
            }
            console.Write(table);
            return 0;
        }));
        return command;
    }

    /// <summary>Builds every named model on both datasets on the CPU and counts its parameters.</summary>
    internal static List<Count> Compute()
    {
        using var device = ComputeDevice.Open("cpu");
        var rows = new List<Count>();
        foreach (var entry in ModelRegistry.Entries)
        {
            foreach (var dataset in Datasets.Names)
            {
                var (c, h, w) = Datasets.StandardInput(dataset);
                long? ours;
                try
                {
                    using var model = ModelRegistry.Create(device, ModelRegistry.Configure(entry.Name, c, h, w));
                    ours = model.Network.ParameterCount;
                }
                catch (NotSupportedException)
                {
                    ours = null;
                }
                rows.Add(new Count(entry.Name, dataset, $"{c}×{h}×{w}", ours, entry.PaperCount(dataset), entry.Description));
            }
        }
        return rows;
    }
}
