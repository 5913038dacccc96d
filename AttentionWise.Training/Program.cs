using System.CommandLine;
using AttentionWise;

namespace AttentionWise.Training;

/// <summary>The `aw` command line.</summary>
public static class Program
{
    public static int Main(string[] args) => BuildRoot().Parse(args).Invoke();

    internal static RootCommand BuildRoot()
    {
        var root = new RootCommand("AttentionWise: train and benchmark element-wise attention networks on CUDA, OpenCL or CPU through ILGPU.");

        var devices = new Command("devices", "List the devices ILGPU can run on, in the order --device N uses.");
        devices.SetAction(_ =>
        {
            Console.WriteLine($"ILGPU: {ComputeDevice.IlgpuFlavor}");
            var list = ComputeDevice.List();
            var auto = ComputeDevice.Choose(list, "auto");
            foreach (var d in list)
                Console.WriteLine($"{d}{(d == auto ? "   <- default (--device auto)" : "")}");
            return 0;
        });
        root.Subcommands.Add(devices);
        return root;
    }
}
