namespace AttentionWise.Tests.Reference;

/// <summary>Float64 references of the element-wise operations, forward beside backward.</summary>
public static class ElementwiseReference
{
    public static double[] Relu(double[] x) => Array.ConvertAll(x, v => v < 0 ? 0 : v);

    /// <summary>dL/dx = gOut where x &gt; 0.</summary>
    public static double[] ReluBackward(double[] x, double[] gOut)
    {
        var g = new double[x.Length];
        for (int i = 0; i < x.Length; i++)
            g[i] = x[i] > 0 ? gOut[i] : 0;
        return g;
    }

    public static double[] Scale(double[] x, double s) => Array.ConvertAll(x, v => v * s);

    public static double[] Add(double[] a, double[] b) => a.Select((v, i) => v + b[i]).ToArray();

    public static double[] Multiply(double[] a, double[] b) => a.Select((v, i) => v * b[i]).ToArray();

    /// <summary>Backward of y = a ⊙ b: (gOut ⊙ b, gOut ⊙ a).</summary>
    public static (double[] GradA, double[] GradB) MultiplyBackward(double[] a, double[] b, double[] gOut) =>
        (Multiply(gOut, b), Multiply(gOut, a));

    public static double[] AddScaled(double[] a, double s, double[] b) => a.Select((v, i) => v + s * b[i]).ToArray();
}
