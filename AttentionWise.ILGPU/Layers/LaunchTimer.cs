namespace AttentionWise.Layers;

/// <summary>
/// An optional hook around the named kernel launches of the attention and DIA layers, for the
/// per-kernel profiling harness (AttentionWise.Bench `profile`). Null in normal use, when a launch is
/// just called.
/// </summary>
public static class LaunchTimer
{
    /// <summary>Called with the kernel's name and the launch; must run the launch exactly once.</summary>
    public static Action<string, Action>? Hook { get; set; }

    /// <summary>Runs <paramref name="launch"/>, through the hook when one is set.</summary>
    public static void Run(string name, Action launch)
    {
        var hook = Hook;
        if (hook is null)
            launch();
        else
            hook(name, launch);
    }
}
